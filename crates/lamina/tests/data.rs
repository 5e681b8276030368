//! The data module: IDX/CSV/text readers (well-formed and malformed input),
//! the bundled data sets, the batch iterator, splits and normalisation.

use lamina::core::{Generator, IndexTensor, Tensor};
use lamina::data::*;
use proptest::prelude::*;
use std::io::Write;
use std::path::PathBuf;

/// The repository's bundled `data/` directory.
fn bundled(rel: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../data")).join(rel)
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// An IDX file: magic 00 00 `code` ndim, big-endian dims, then `body`.
fn idx_bytes(code: u8, shape: &[u32], body: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, code, shape.len() as u8];
    for d in shape {
        out.extend_from_slice(&d.to_be_bytes());
    }
    out.extend_from_slice(body);
    out
}

/// Writes `bytes` to a fresh file in the temp dir and returns its path.
fn temp_file(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lamina-data-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn idx_err(bytes: &[u8]) -> DataError {
    read_idx(bytes, "bad.idx").expect_err("malformed IDX must be an error")
}

// ---- IDX ----

#[test]
fn idx_reads_u8_plain_and_gzip_alike() {
    let bytes = idx_bytes(0x08, &[2, 2, 3], &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 255]);
    let plain = read_idx(&bytes[..], "a.idx").unwrap();
    let zipped = read_idx(&gzip(&bytes)[..], "a.idx.gz").unwrap();
    assert_eq!(plain.shape, vec![2, 2, 3]);
    assert_eq!(plain.data, IdxData::U8(vec![0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 255]));
    assert_eq!(plain.data, zipped.data);
    let t = plain.to_tensor::<f32>();
    assert_eq!(t.shape(), &[2, 2, 3]);
    assert_eq!(t.to_vec()[11], 255.0);
}

#[test]
fn idx_reads_wider_types_big_endian() {
    // i16: -2 = ff fe, 258 = 01 02.
    let a = read_idx(&idx_bytes(0x0B, &[2], &[0xff, 0xfe, 0x01, 0x02])[..], "i16.idx").unwrap();
    assert_eq!(a.data, IdxData::I16(vec![-2, 258]));
    // i8: 0xff = -1.
    let a = read_idx(&idx_bytes(0x09, &[1], &[0xff])[..], "i8.idx").unwrap();
    assert_eq!(a.data, IdxData::I8(vec![-1]));
    // i32: 0x00010000 = 65536.
    let a = read_idx(&idx_bytes(0x0C, &[1], &[0, 1, 0, 0])[..], "i32.idx").unwrap();
    assert_eq!(a.data, IdxData::I32(vec![65536]));
    // f32 1.5 = 3f c0 00 00; f64 -0.25 = bf d0 00.. .
    let a = read_idx(&idx_bytes(0x0D, &[1], &[0x3f, 0xc0, 0, 0])[..], "f32.idx").unwrap();
    assert_eq!(a.data, IdxData::F32(vec![1.5]));
    let a = read_idx(&idx_bytes(0x0E, &[1], &[0xbf, 0xd0, 0, 0, 0, 0, 0, 0])[..], "f64.idx").unwrap();
    assert_eq!(a.to_f64_vec(), vec![-0.25]);
    // A 0-dimensional array holds one element.
    let a = read_idx(&idx_bytes(0x08, &[], &[7])[..], "scalar.idx").unwrap();
    assert_eq!((a.shape.clone(), a.to_f64_vec()), (vec![], vec![7.0]));
}

#[test]
fn idx_bad_magic_is_an_error_naming_the_bytes() {
    let e = idx_err(&[0x50, 0x4b, 3, 4, 0, 0, 0, 0]);
    assert!(matches!(e.kind, DataErrorKind::BadMagic { found: [0x50, 0x4b, 3, 4] }), "{e}");
    let msg = e.to_string();
    assert!(msg.starts_with("bad.idx: bad magic number 50 4b 03 04"), "{msg}");
    let e = idx_err(&idx_bytes(0x07, &[1], &[0]));
    assert!(matches!(e.kind, DataErrorKind::UnknownType { code: 7 }), "{e}");
    assert!(e.to_string().contains("0x07"), "{e}");
}

#[test]
fn idx_truncation_reports_the_byte_where_it_ran_out() {
    // Header of 3 dims needs 16 bytes; only 10 present.
    let e = idx_err(&idx_bytes(0x08, &[2, 2, 2], &[])[..10]);
    assert!(matches!(e.kind, DataErrorKind::Truncated { at_byte: 10, .. }), "{e}");
    assert!(e.to_string().contains("truncated at byte 10"), "{e}");
    // Data: [6] u8 needs 8 + 6 = 14 bytes; 5 of 6 data bytes present.
    let e = idx_err(&idx_bytes(0x08, &[6], &[1, 2, 3, 4, 5]));
    assert!(matches!(e.kind, DataErrorKind::Truncated { at_byte: 13, .. }), "{e}");
    assert!(e.to_string().contains("needs 14 bytes"), "{e}");
    // i32 data counts 4 bytes per element: 2 elements need 8 + 8.
    let e = idx_err(&idx_bytes(0x0C, &[2], &[0; 7]));
    assert!(matches!(e.kind, DataErrorKind::Truncated { at_byte: 15, .. }), "{e}");
    // Fewer than 4 bytes.
    assert!(matches!(idx_err(&[]).kind, DataErrorKind::Truncated { at_byte: 0, .. }));
    // Absurd dimensions do not overflow or allocate.
    let e = idx_err(&idx_bytes(0x0E, &[u32::MAX, u32::MAX, u32::MAX], &[0; 4]));
    assert!(matches!(e.kind, DataErrorKind::Truncated { at_byte: 20, .. }), "{e}");
}

#[test]
fn idx_trailing_bytes_are_an_error() {
    let e = idx_err(&idx_bytes(0x08, &[2], &[1, 2, 3]));
    assert!(matches!(e.kind, DataErrorKind::TrailingBytes { at_byte: 10 }), "{e}");
}

#[test]
fn idx_corrupt_gzip_and_missing_file_are_io_errors_naming_the_file() {
    let mut z = gzip(&idx_bytes(0x08, &[4], &[1, 2, 3, 4]));
    let n = z.len();
    z.truncate(n - 6);
    let e = read_idx(&z[..], "cut.idx.gz").unwrap_err();
    assert!(matches!(e.kind, DataErrorKind::Io(_)), "{e}");
    assert!(e.to_string().starts_with("cut.idx.gz: "), "{e}");
    let e = load_idx("/nonexistent/dir/x-idx1-ubyte.gz").unwrap_err();
    assert!(matches!(e.kind, DataErrorKind::Io(_)), "{e}");
    assert!(e.to_string().contains("/nonexistent/dir/x-idx1-ubyte.gz"), "{e}");
}

#[test]
fn idx_classification_checks_dimensions_counts_and_labels() {
    let images = temp_file("img-idx3", &idx_bytes(0x08, &[2, 1, 2], &[0, 10, 20, 30]));
    let labels = temp_file("lab-idx1", &gzip(&idx_bytes(0x08, &[2], &[3, 1])));
    let d = load_idx_classification::<f32>(&images, &labels).unwrap();
    assert_eq!(d.inputs.shape(), &[2, 1, 2]);
    assert_eq!(d.inputs.to_vec(), vec![0.0, 10.0, 20.0, 30.0]);
    assert_eq!(d.labels.to_vec(), vec![3, 1]);

    // Labels passed as images: wrong dimension count, naming the file.
    let e = load_idx_classification::<f32>(&labels, &labels).unwrap_err();
    assert!(matches!(&e.kind, DataErrorKind::WrongDimensions { expected: 3, found } if found == &vec![2]), "{e}");
    assert!(e.to_string().contains("lab-idx1") && e.to_string().contains("expected 3 dimensions, found 1"), "{e}");

    let three = temp_file("lab3-idx1", &idx_bytes(0x08, &[3], &[0, 1, 2]));
    let e = load_idx_classification::<f32>(&images, &three).unwrap_err();
    assert!(matches!(e.kind, DataErrorKind::CountMismatch { left: 2, right: 3, .. }), "{e}");

    let neg = temp_file("neg-idx1", &idx_bytes(0x09, &[2], &[0, 0xff]));
    let e = load_idx_classification::<f32>(&images, &neg).unwrap_err();
    assert!(matches!(e.kind, DataErrorKind::BadLabel { index: 1, value } if value == -1.0), "{e}");
}

#[test]
fn bundled_fashion_mnist_and_digits_load_with_their_documented_contents() {
    let test = load_idx_classification::<f32>(
        bundled("fashion-mnist/t10k-images-idx3-ubyte.gz"),
        bundled("fashion-mnist/t10k-labels-idx1-ubyte.gz"),
    )
    .unwrap();
    assert_eq!(test.inputs.shape(), &[10000, 28, 28]);
    // data/README.md: the first test labels are 9,2,1,1,6,1,4,6,5,7 and each class has 1000.
    assert_eq!(test.labels.to_vec()[..10], [9, 2, 1, 1, 6, 1, 4, 6, 5, 7]);
    let mut counts = [0; 10];
    test.labels.to_vec().iter().for_each(|&c| counts[c as usize] += 1);
    assert_eq!(counts, [1000; 10]);
    assert_eq!(test.inputs.max().item(), 255.0);

    let train = load_idx(bundled("fashion-mnist/train10k-labels-idx1-ubyte.gz")).unwrap().to_labels().unwrap();
    let mut counts = [0; 10];
    train.to_vec().iter().for_each(|&c| counts[c as usize] += 1);
    assert_eq!(counts, [942, 1027, 1016, 1019, 974, 989, 1021, 1022, 990, 1000]);

    let digits = load_idx_classification::<f32>(
        bundled("digits/digits-images-idx3-ubyte.gz"),
        bundled("digits/digits-labels-idx1-ubyte.gz"),
    )
    .unwrap();
    assert_eq!(digits.inputs.shape(), &[1797, 8, 8]);
    assert_eq!(digits.inputs.max().item(), 16.0);
    // The CSV copy (no header, 64 pixels + label) holds the same data.
    let table =
        load_csv(bundled("digits/digits.csv.gz"), &CsvOptions { header: false, ..CsvOptions::default() }).unwrap();
    let from_csv = table.classification::<f32>("64").unwrap();
    assert_eq!(from_csv.labels.to_vec(), digits.labels.to_vec());
    assert_eq!(from_csv.inputs.to_vec(), digits.inputs.to_vec());
}

// ---- CSV ----

fn csv(text: &str) -> Result<Table> {
    read_csv(text.as_bytes(), "t.csv", &CsvOptions::default())
}

#[test]
fn csv_reads_numbers_crlf_quotes_and_blank_lines() {
    let t = csv("a, \"b\" ,c\r\n1,2.5,-3e2\r\n\r\n\"4\", 5 ,6\n\n").unwrap();
    assert_eq!(t.columns, vec!["a", "b", "c"]);
    assert_eq!((t.rows, t.width()), (2, 3));
    assert_eq!(t.data, vec![1.0, 2.5, -300.0, 4.0, 5.0, 6.0]);
    assert_eq!(t.column("c").unwrap(), vec![-300.0, 6.0]);
    let (x, y) = t.regression::<f64>("b").unwrap();
    assert_eq!(x.to_vec(), vec![1.0, -300.0, 4.0, 6.0]);
    assert_eq!(y.to_vec(), vec![2.5, 5.0]);
    // Semicolons and no header.
    let t = read_csv("1;2\n3;4\n".as_bytes(), "s.csv", &CsvOptions { header: false, delimiter: b';' }).unwrap();
    assert_eq!((t.columns.clone(), t.data.clone()), (vec!["0".to_string(), "1".to_string()], vec![1.0, 2.0, 3.0, 4.0]));
}

#[test]
fn csv_ragged_row_names_the_line_and_counts() {
    let e = csv("a,b\n1,2\n\n3,4,5\n").unwrap_err();
    assert!(matches!(e.kind, DataErrorKind::RaggedRow { line: 4, expected: 2, found: 3 }), "{e}");
    assert_eq!(e.to_string(), "t.csv: ragged row at line 4: 3 fields, expected 2");
    let e = csv("a,b\n1\n").unwrap_err();
    assert!(matches!(e.kind, DataErrorKind::RaggedRow { line: 2, expected: 2, found: 1 }), "{e}");
}

#[test]
fn csv_non_numeric_field_names_line_and_column() {
    let e = csv("a,b,c\n1,2,3\n4,NA,6\n").unwrap_err();
    assert!(matches!(&e.kind, DataErrorKind::NonNumeric { line: 3, column: 2, field } if field == "NA"), "{e}");
    assert_eq!(e.to_string(), "t.csv: non-numeric field \"NA\" at line 3, column 2");
    // A missing file is an I/O error.
    let e = load_csv("/work/none.csv", &CsvOptions::default()).unwrap_err();
    assert!(matches!(e.kind, DataErrorKind::Io(_)), "{e}");
}

#[test]
fn csv_empty_missing_column_bad_label_and_bad_utf8_are_errors() {
    assert!(matches!(csv("").unwrap_err().kind, DataErrorKind::Empty));
    assert!(matches!(csv("a,b\n").unwrap_err().kind, DataErrorKind::Empty));
    let t = csv("x,label\n1,0\n2,1.5\n").unwrap();
    let e = t.classification::<f32>("target").unwrap_err();
    assert!(matches!(&e.kind, DataErrorKind::MissingColumn { name, .. } if name == "target"), "{e}");
    assert!(e.to_string().contains("columns: x, label"), "{e}");
    let e = t.classification::<f32>("label").unwrap_err();
    assert!(matches!(e.kind, DataErrorKind::BadLabel { index: 1, value } if value == 1.5), "{e}");
    let e = read_csv(&b"a\n1\xff\n"[..], "u.csv", &CsvOptions::default()).unwrap_err();
    assert!(matches!(e.kind, DataErrorKind::InvalidUtf8 { at_byte: 3 }), "{e}");
}

#[test]
fn bundled_iris_is_a_three_class_problem() {
    let d =
        load_csv(bundled("tabular/iris.csv"), &CsvOptions::default()).unwrap().classification::<f64>("target").unwrap();
    assert_eq!(d.inputs.shape(), &[150, 4]);
    let mut counts = [0; 3];
    d.labels.to_vec().iter().for_each(|&c| counts[c as usize] += 1);
    assert_eq!(counts, [50, 50, 50]);
}

// ---- text ----

#[test]
fn vocab_encodes_and_decodes_and_rejects_unknowns() {
    let v = Vocab::from_text("banana!");
    assert_eq!(v.chars(), &['!', 'a', 'b', 'n']);
    assert_eq!(v.len(), 4);
    assert_eq!(v.id('n'), Some(3));
    assert_eq!(v.id('z'), None);
    let ids = v.encode("nab!").unwrap();
    assert_eq!(ids.to_vec(), vec![3, 1, 2, 0]);
    assert_eq!(v.decode(&ids.to_vec()).unwrap(), "nab!");
    let e = v.encode("bandana").unwrap_err();
    assert!(matches!(e.kind, DataErrorKind::UnknownChar { ch: 'd', at: 3 }), "{e}");
    let e = v.decode(&[0, 4]).unwrap_err();
    assert!(matches!(e.kind, DataErrorKind::UnknownToken { id: 4, vocab_size: 4 }), "{e}");
    assert!(v.decode(&[-1]).is_err());
}

#[test]
fn text_reads_gzip_and_rejects_invalid_utf8() {
    assert_eq!(read_text(&gzip("héllo".as_bytes())[..], "t.txt.gz").unwrap(), "héllo");
    // 'h', then a lone continuation byte at offset 1.
    let e = read_text(&b"h\x80i"[..], "t.txt").unwrap_err();
    assert!(matches!(e.kind, DataErrorKind::InvalidUtf8 { at_byte: 1 }), "{e}");
}

#[test]
fn bundled_shakespeare_has_76_ascii_characters() {
    let text = load_text(bundled("text/shakespeare.txt")).unwrap();
    assert_eq!(text.len(), 1_036_342);
    let v = Vocab::from_text(&text);
    assert_eq!(v.len(), 76);
    assert!(v.chars().iter().all(|c| c.is_ascii()));
}

#[test]
fn random_windows_are_shifted_slices_of_the_tokens() {
    let tokens = IndexTensor::from_vec((0..50).map(|i| i * 3).collect(), &[50]);
    let (x, y) = random_windows(&tokens, 8, 5, &mut Generator::new(3));
    assert_eq!((x.shape(), y.shape()), (&[8, 5][..], &[8, 5][..]));
    for (xr, yr) in x.to_vec().chunks(5).zip(y.to_vec().chunks(5)) {
        let start = (xr[0] / 3) as usize;
        assert!(start + 5 < 50);
        let expect: Vec<i64> = (start..start + 6).map(|i| i as i64 * 3).collect();
        assert_eq!(xr, &expect[..5]);
        assert_eq!(yr, &expect[1..]);
    }
    // The same generator state gives the same windows.
    let (x2, _) = random_windows(&tokens, 8, 5, &mut Generator::new(3));
    assert_eq!(x.to_vec(), x2.to_vec());
    // Windows of the whole sequence are the only choice when it is just long enough.
    let (x, y) = random_windows(&IndexTensor::arange(4), 2, 3, &mut Generator::new(0));
    assert_eq!((x.to_vec(), y.to_vec()), (vec![0, 1, 2, 0, 1, 2], vec![1, 2, 3, 1, 2, 3]));
}

#[test]
fn random_windows_panics_on_too_short_text() {
    let r = std::panic::catch_unwind(|| random_windows(&IndexTensor::arange(3), 1, 3, &mut Generator::new(0)));
    let msg = *r.unwrap_err().downcast::<String>().unwrap();
    assert!(msg.contains("random_windows") && msg.contains("tests/"), "{msg}");
}

// ---- batches ----

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn every_index_once_per_epoch_and_same_seed_same_order(
        len in 0usize..60, batch in 1usize..12, seed in any::<u64>(), epoch in 0u64..5, drop_last in any::<bool>(),
    ) {
        let s = BatchSampler::new(len, batch).shuffle(seed).drop_last(drop_last);
        let batches: Vec<Vec<usize>> = s.epoch(epoch).collect();
        prop_assert_eq!(batches.len(), s.num_batches());
        for (i, b) in batches.iter().enumerate() {
            if i + 1 < batches.len() || drop_last {
                prop_assert_eq!(b.len(), batch);
            } else {
                prop_assert!(!b.is_empty() && b.len() <= batch);
            }
        }
        let mut seen: Vec<usize> = batches.concat();
        let kept = seen.len();
        seen.sort_unstable();
        seen.dedup();
        prop_assert_eq!(seen.len(), kept, "an index appeared twice");
        if drop_last {
            prop_assert_eq!(kept, len / batch * batch);
            prop_assert!(seen.iter().all(|&i| i < len));
        } else {
            prop_assert_eq!(seen, (0..len).collect::<Vec<_>>());
        }
        // The same seed and epoch give the same order; so does a clone.
        let again: Vec<Vec<usize>> = BatchSampler::new(len, batch).shuffle(seed).drop_last(drop_last).epoch(epoch).collect();
        prop_assert_eq!(&batches, &again);
        prop_assert_eq!(s.order(epoch), s.clone().order(epoch));
    }
}

#[test]
fn shuffling_differs_between_epochs_and_seeds_and_sequential_does_not() {
    let s = BatchSampler::new(100, 10).shuffle(5);
    assert_ne!(s.order(0), s.order(1));
    assert_ne!(s.order(0), BatchSampler::new(100, 10).shuffle(6).order(0));
    assert_ne!(s.order(0), (0..100).collect::<Vec<_>>());
    let plain = BatchSampler::new(7, 3);
    assert_eq!(plain.epoch(4).collect::<Vec<_>>(), vec![vec![0, 1, 2], vec![3, 4, 5], vec![6]]);
}

#[test]
fn loader_batches_pair_each_input_with_its_label() {
    // Sample i is the row [i, 10 i] with label i % 3.
    let n = 11;
    let x: Vec<f32> = (0..n).flat_map(|i| [i as f32, 10.0 * i as f32]).collect();
    let data =
        Dataset::new(Tensor::from_vec(x, &[n, 2]), IndexTensor::from_vec((0..n as i64).map(|i| i % 3).collect(), &[n]));
    let loader = data.loader(4).shuffle(9);
    assert_eq!(loader.num_batches(), 3);
    let mut seen = Vec::new();
    for b in loader.epoch(2) {
        let rows = b.inputs.to_vec();
        assert_eq!(b.inputs.shape(), &[b.indices.len(), 2]);
        for (k, &i) in b.indices.iter().enumerate() {
            assert_eq!(&rows[2 * k..2 * k + 2], &[i as f32, 10.0 * i as f32]);
            assert_eq!(b.labels.to_vec()[k], i as i64 % 3);
        }
        seen.extend(b.indices);
    }
    assert_eq!(seen, loader.sampler().order(2));
    assert_eq!(data.loader(4).drop_last(true).epoch(0).count(), 2);
    assert_eq!(data.take(3).labels.to_vec(), vec![0, 1, 2]);
}

#[test]
fn zero_batch_size_and_mismatched_dataset_panic_with_the_caller() {
    let r = std::panic::catch_unwind(|| BatchSampler::new(3, 0));
    let msg = *r.unwrap_err().downcast::<String>().unwrap();
    assert!(msg.contains("batch_size") && msg.contains("tests/"), "{msg}");
    let r = std::panic::catch_unwind(|| Dataset::new(Tensor::<f32>::zeros(&[3, 2]), IndexTensor::arange(2)));
    let msg = *r.unwrap_err().downcast::<String>().unwrap();
    assert!(msg.contains("Dataset::new") && msg.contains("[3, 2]") && msg.contains("tests/"), "{msg}");
}

// ---- split and normalise ----

#[test]
fn train_test_split_partitions_with_sklearn_rounding() {
    let data = Dataset::new(Tensor::<f64>::arange(0.0, 10.0, 1.0).reshape(&[10, 1]), IndexTensor::arange(10));
    // ceil(0.33 * 10) = 4 test samples.
    let (train, test) = data.train_test_split(0.33, Some(2));
    assert_eq!((train.len(), test.len()), (6, 4));
    let mut all = [train.labels.to_vec(), test.labels.to_vec()].concat();
    // Inputs still match labels after the shuffle.
    assert_eq!(train.inputs.to_vec(), train.labels.to_vec().iter().map(|&i| i as f64).collect::<Vec<_>>());
    all.sort_unstable();
    assert_eq!(all, (0..10).collect::<Vec<_>>());
    let (_, test2) = data.train_test_split(0.33, Some(2));
    assert_eq!(test.labels.to_vec(), test2.labels.to_vec());
    let (train, test) = data.train_test_split(0.2, None);
    assert_eq!((train.labels.to_vec(), test.labels.to_vec()), ((0..8).collect(), vec![8, 9]));
    assert!(std::panic::catch_unwind(|| data.train_test_split(1.0, None)).is_err());
}

#[test]
fn normalize_fits_population_statistics_per_feature_and_globally() {
    // Columns [1, 3] and [2, 6]: means 2 and 4, population stds 1 and 2.
    let x = Tensor::<f64>::from_vec(vec![1.0, 2.0, 3.0, 6.0], &[2, 2]);
    let n = Normalize::fit(&x);
    assert_eq!(n.mean.to_vec(), vec![2.0, 4.0]);
    assert_eq!(n.std.to_vec(), vec![1.0, 2.0]);
    assert_eq!(n.apply(&x).to_vec(), vec![-1.0, -1.0, 1.0, 1.0]);
    // All four values: mean 3, population variance (4 + 1 + 0 + 9) / 4 = 3.5.
    let g = Normalize::fit_global(&x);
    assert_eq!(g.mean.shape(), &[] as &[usize]);
    assert_eq!(g.mean.item(), 3.0);
    assert!((g.std.item() - 3.5f64.sqrt()).abs() < 1e-15);
    // Images [n, h, w] normalise per pixel position with `fit`.
    let imgs = Tensor::<f32>::from_vec(vec![0.0, 4.0, 2.0, 4.0], &[2, 1, 2]);
    let n = Normalize::fit(&imgs);
    assert_eq!(n.mean.shape(), &[1, 2]);
    assert_eq!(n.apply(&imgs).to_vec(), vec![-1.0, 0.0, 1.0, 0.0]);
}
