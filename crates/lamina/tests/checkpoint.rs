//! The `.lamina` format: round trips, the committed fixture, atomic saves,
//! and every way a file can be wrong (each an error naming what and where,
//! never a panic, never an allocation beyond the file's size).
//!
//! Hostile files are built here by hand from the documented byte layout
//! (docs/src/checkpoints.md), independently of the writer.

use lamina::checkpoint::{write_atomic, Checkpoint, CheckpointError, ElementType, TrainingState};
use lamina::core::{Element, Generator, Tensor};
use lamina::layers::{BatchNorm1d, Linear, ModuleExt, StateDict};
use lamina::optim::{Optimizer, Sgd, StepLR};
use proptest::prelude::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::Write;
use std::path::Path;

// ---------------------------------------------------------------- allocation tracking

/// Records the largest single allocation made on each thread, so a test can
/// prove a hostile length prefix allocates nothing near what it promises.
struct Tracking;

thread_local! {
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = LARGEST.try_with(|m| m.set(m.get().max(layout.size())));
        // SAFETY: forwarded from the caller's contract.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded from the caller's contract.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = LARGEST.try_with(|m| m.set(m.get().max(new_size)));
        // SAFETY: forwarded from the caller's contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Tracking = Tracking;

/// The largest single allocation `f` makes on this thread.
fn largest_allocation<R>(f: impl FnOnce() -> R) -> (R, usize) {
    LARGEST.with(|m| m.set(0));
    let r = f();
    (r, LARGEST.with(Cell::get))
}

// ---------------------------------------------------------------- helpers

/// A file laid out by hand: header, the given table bytes, a training state,
/// data, and a correct length and checksum.
fn file(elem: u8, count: u32, table: &[u8], state: &[u8], data: &[u8]) -> Vec<u8> {
    let mut f = b"\x89LAMINA\n".to_vec();
    f.extend(1u32.to_le_bytes());
    f.extend([elem, 0, 0, 0]);
    f.extend(0u64.to_le_bytes());
    f.extend(count.to_le_bytes());
    f.extend([0; 4]);
    f.extend(table);
    f.extend((state.len() as u64).to_le_bytes());
    f.extend(state);
    f.extend(data);
    f.extend([0; 4]);
    seal(&mut f);
    f
}

/// Makes the length field and the CRC-32 agree with the bytes.
fn seal(f: &mut [u8]) {
    let n = f.len();
    f[16..24].copy_from_slice(&(n as u64).to_le_bytes());
    let crc = crc32(&f[..n - 4]);
    f[n - 4..].copy_from_slice(&crc.to_le_bytes());
}

/// CRC-32 (IEEE, reflected, polynomial 0xEDB88320), bit by bit: an
/// independent check of the checksum the writer stores.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

/// One table entry.
fn entry(name: &[u8], shape: &[u64], data_len: u64) -> Vec<u8> {
    let mut e = (name.len() as u32).to_le_bytes().to_vec();
    e.extend(name);
    e.push(shape.len() as u8);
    for d in shape {
        e.extend(d.to_le_bytes());
    }
    e.extend(data_len.to_le_bytes());
    e
}

/// The bincode of "no training state" (`None`).
const NO_STATE: &[u8] = &[0];

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn err<E: Element>(bytes: &[u8]) -> CheckpointError {
    match Checkpoint::<E>::from_bytes(bytes) {
        Ok(_) => panic!("a bad file loaded"),
        Err(e) => e,
    }
}

fn linear(w: &[f32], b: &[f32]) -> Linear<f32> {
    let l = Linear::new(3, 2, true);
    l.weight.assign(&Tensor::from_vec(w.to_vec(), &[2, 3]));
    l.bias.as_ref().unwrap().assign(&Tensor::from_vec(b.to_vec(), &[2]));
    l
}

fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

// ---------------------------------------------------------------- the layout

#[test]
fn a_hand_built_file_loads_to_the_values_written() {
    let table = [entry(b"w", &[2, 2], 16), entry(b"s", &[], 4)].concat();
    let data = f32_bytes(&[1.0, 2.0, 3.0, 4.0, -0.5]);
    let ck = Checkpoint::<f32>::from_bytes(&file(1, 2, &table, NO_STATE, &data)).unwrap();
    let names: Vec<&str> = ck.model.keys().collect();
    assert_eq!(names, ["w", "s"]);
    assert_eq!(ck.model.get("w").unwrap().shape(), &[2, 2]);
    assert_eq!(ck.model.get("w").unwrap().to_vec(), [1.0, 2.0, 3.0, 4.0]);
    assert_eq!(ck.model.get("s").unwrap().shape(), &[] as &[usize]);
    assert_eq!(ck.model.get("s").unwrap().item(), -0.5);
    assert!(ck.training.is_none());
}

#[test]
fn the_writer_follows_the_documented_layout() {
    let l = linear(&[0.0, 1.0, 2.0, 3.0, 4.0, 5.0], &[0.5, -1.5]);
    let bytes = Checkpoint::of_module(&l).to_bytes();
    let table = [entry(b"weight", &[2, 3], 24), entry(b"bias", &[2], 8)].concat();
    let data = f32_bytes(&[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 0.5, -1.5]);
    assert_eq!(bytes, file(1, 2, &table, NO_STATE, &data));
}

// ---------------------------------------------------------------- round trips

fn state_dict<E: Element>() -> impl Strategy<Value = StateDict<E>> {
    let tensor = proptest::collection::vec(0usize..4, 0..4).prop_flat_map(|shape| {
        let n = shape.iter().product::<usize>();
        (Just(shape), proptest::collection::vec(any::<u64>(), n))
    });
    proptest::collection::vec(("[a-z_.0-9]{0,12}", tensor), 0..5).prop_map(|entries| {
        entries
            .into_iter()
            .map(|(name, (shape, raw))| {
                // Any bit pattern: NaNs, infinities, subnormals, negative zero.
                let data = raw.iter().map(|&r| from_bits::<E>(r)).collect();
                (name, Tensor::from_vec(data, &shape))
            })
            .collect()
    })
}

fn from_bits<E: Element>(r: u64) -> E {
    if ElementType::of::<E>() == ElementType::F32 {
        E::of(f32::from_bits(r as u32) as f64)
    } else {
        E::of(f64::from_bits(r))
    }
}

fn bit_eq<E: Element>(a: &StateDict<E>, b: &StateDict<E>) {
    let list = |sd: &StateDict<E>| {
        sd.iter()
            .map(|(n, t)| (n.to_owned(), t.shape().to_vec(), t.to_f64_vec().iter().map(|v| v.to_bits()).collect()))
            .collect::<Vec<(String, Vec<usize>, Vec<u64>)>>()
    };
    assert_eq!(list(a), list(b));
}

fn round_trip<E: Element>(sd: StateDict<E>) {
    let ck = Checkpoint { model: sd, training: None };
    let back = Checkpoint::<E>::from_bytes(&ck.to_bytes()).unwrap();
    bit_eq(&ck.model, &back.model);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn every_f32_state_dict_round_trips_bit_for_bit(sd in state_dict::<f32>()) {
        round_trip(sd);
    }

    #[test]
    fn every_f64_state_dict_round_trips_bit_for_bit(sd in state_dict::<f64>()) {
        round_trip(sd);
    }

    #[test]
    fn a_flipped_bit_anywhere_is_reported_not_loaded(sd in state_dict::<f32>(), pos in any::<prop::sample::Index>(), bit in 0u8..8) {
        let mut bytes = Checkpoint { model: sd, training: None }.to_bytes();
        let i = pos.index(bytes.len());
        bytes[i] ^= 1 << bit;
        prop_assert!(Checkpoint::<f32>::from_bytes(&bytes).is_err());
    }

    #[test]
    fn the_loader_never_panics_on_random_bytes(mut bytes in proptest::collection::vec(any::<u8>(), 0..200), sealed in any::<bool>()) {
        if bytes.len() >= 8 {
            bytes[..8].copy_from_slice(b"\x89LAMINA\n");
        }
        if sealed && bytes.len() >= 44 {
            seal(&mut bytes);
        }
        let _ = Checkpoint::<f32>::from_bytes(&bytes);
        let _ = lamina::checkpoint::inspect_bytes(&bytes);
    }
}

#[test]
fn a_training_checkpoint_round_trips_through_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.lamina");
    let l = linear(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[0.0, 0.0]);
    let mut opt = Optimizer::new(l.named_parameters(), Sgd { lr: 0.1, momentum: 0.9, ..Sgd::default() });
    let mut sched = StepLR::new(&mut opt, 2, 0.5);
    l.forward_sum_backward();
    opt.step();
    lamina::optim::LrScheduler::step(&mut sched, &mut opt);
    let ck = Checkpoint::training(&l, &opt, Some(&sched), 1, 0);
    ck.save(&path).unwrap();
    let back = Checkpoint::<f32>::load(&path).unwrap();
    bit_eq(&ck.model, &back.model);
    assert_eq!(back.training, ck.training);
    let t = back.training.unwrap();
    assert_eq!(t.optimizer.optimizer, "SGD");
    assert_eq!(t.scheduler.unwrap().scheduler, "StepLR");
    // The momentum buffer is the first gradient: d(sum(W x + b))/dW = x = ones.
    assert_eq!(t.optimizer.state["weight"].buffers["momentum_buffer"], vec![1.0; 6]);
}

/// `sum(l(ones))` backward, for a gradient with known values.
trait SumBackward {
    fn forward_sum_backward(&self);
}

impl SumBackward for Linear<f32> {
    fn forward_sum_backward(&self) {
        use lamina::layers::Forward;
        self.forward(&Tensor::ones(&[1, 3])).sum().backward();
    }
}

#[test]
fn tensors_state_dicts_and_training_states_are_serde_serialisable() {
    let t = Tensor::<f64>::from_vec(vec![1.5, -2.0, 0.25], &[3, 1]);
    let json = serde_json::to_string(&t).unwrap();
    assert_eq!(json, r#"{"shape":[3,1],"data":[1.5,-2.0,0.25]}"#);
    let back: Tensor<f64> = serde_json::from_str(&json).unwrap();
    assert_eq!((back.shape(), back.to_vec()), (t.shape(), t.to_vec()));
    // A view saves the values it shows.
    let v: Tensor<f64> = serde_json::from_str(&serde_json::to_string(&t.transpose(0, 1)).unwrap()).unwrap();
    assert_eq!(v.shape(), &[1, 3]);
    // Data that does not fill the shape is an error, not a panic.
    let bad = serde_json::from_str::<Tensor<f64>>(r#"{"shape":[2,2],"data":[1.0]}"#).unwrap_err();
    assert!(bad.to_string().contains("shape [2, 2] needs 4 values"), "{bad}");

    let sd: StateDict<f32> =
        [("a".to_owned(), Tensor::ones(&[2])), ("b".to_owned(), Tensor::zeros(&[]))].into_iter().collect();
    let bin = bincode::serialize(&sd).unwrap();
    let back: StateDict<f32> = bincode::deserialize(&bin).unwrap();
    bit_eq(&sd, &back);
    let dup =
        serde_json::from_str::<StateDict<f32>>(r#"[["a",{"shape":[],"data":[1.0]}],["a",{"shape":[],"data":[2.0]}]]"#)
            .unwrap_err();
    assert!(dup.to_string().contains("`a` occurs twice"), "{dup}");

    // Optimizer state (with its options, a tagged enum in binary formats) through bincode.
    let l = linear(&[0.0; 6], &[0.0; 2]);
    let opt = Optimizer::new(l.named_parameters(), Sgd { lr: 0.1, nesterov: true, momentum: 0.5, ..Sgd::default() });
    let state = TrainingState {
        step: 3,
        epoch: 1,
        rng: Generator::new(1).state(),
        optimizer: opt.state_dict(),
        scheduler: None,
    };
    let back: TrainingState = bincode::deserialize(&bincode::serialize(&state).unwrap()).unwrap();
    assert_eq!(back, state);
    // JSON keeps the bare values.
    let json = serde_json::to_string(&state.optimizer).unwrap();
    assert!(json.contains(r#""nesterov":true"#) && json.contains(r#""lr":0.1"#), "{json}");
}

// ---------------------------------------------------------------- the committed fixture

/// What tests/fixtures/linear_sgd.lamina holds, stated independently:
/// a Linear(3, 2) with weight = arange(6) as [2, 3] and bias [0.5, -1.5], an
/// SGD optimizer (lr 0.1, momentum 0.9) never stepped, no scheduler, step 7,
/// epoch 2 and the state of `Generator::new(42)`.
fn fixture_checkpoint() -> Checkpoint<f32> {
    let l = linear(&[0.0, 1.0, 2.0, 3.0, 4.0, 5.0], &[0.5, -1.5]);
    let opt = Optimizer::new(l.named_parameters(), Sgd { lr: 0.1, momentum: 0.9, ..Sgd::default() });
    let mut ck = Checkpoint::training(&l, &opt, None, 7, 2);
    ck.training.as_mut().unwrap().rng = Generator::new(42).state();
    ck
}

/// Regenerates the fixture: `cargo test -p lamina --test lamina -- --ignored write_fixture`.
#[test]
#[ignore]
fn write_fixture() {
    fixture_checkpoint().save(fixture("linear_sgd.lamina")).unwrap();
}

#[test]
fn the_committed_fixture_loads_to_its_known_values() {
    let ck = Checkpoint::<f32>::load(fixture("linear_sgd.lamina")).unwrap();
    assert_eq!(ck.model.keys().collect::<Vec<_>>(), ["weight", "bias"]);
    let w = ck.model.get("weight").unwrap();
    assert_eq!(w.shape(), &[2, 3]);
    assert_eq!(w.to_vec(), [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
    assert_eq!(ck.model.get("bias").unwrap().to_vec(), [0.5, -1.5]);
    let t = ck.training.as_ref().unwrap();
    assert_eq!((t.step, t.epoch, t.rng), (7, 2, Generator::new(42).state()));
    assert_eq!(t.optimizer.optimizer, "SGD");
    assert!(t.optimizer.state.is_empty() && t.scheduler.is_none());

    // It restores into a fresh model and optimizer.
    let l = Linear::<f32>::new(3, 2, true);
    let mut opt = Optimizer::new(l.named_parameters(), Sgd::default());
    let progress = ck.restore(&l, &mut opt, None).unwrap();
    assert_eq!((progress.step, progress.epoch), (7, 2));
    assert_eq!(l.weight.to_vec(), [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
    assert_eq!(opt.param_groups()[0].lr(), 0.1);
    assert_eq!(lamina::core::default_generator_state(), Generator::new(42).state());

    // The format is stable: today's writer produces the committed bytes.
    assert_eq!(fixture_checkpoint().to_bytes(), std::fs::read(fixture("linear_sgd.lamina")).unwrap());
}

// ---------------------------------------------------------------- atomic save

/// A writer that accepts `left` bytes and then fails, like a full disk.
struct FailAfter<'a> {
    inner: &'a mut dyn Write,
    left: usize,
}

impl Write for FailAfter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            return Err(std::io::Error::other("no space left on device"));
        }
        let n = buf.len().min(self.left);
        self.left -= n;
        self.inner.write(&buf[..n])
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn dir_listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

#[test]
fn a_save_that_fails_half_way_leaves_the_last_good_checkpoint_and_no_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.lamina");
    let good = Checkpoint::of_module(&linear(&[1.0; 6], &[2.0; 2]));
    good.save(&path).unwrap();
    let before = std::fs::read(&path).unwrap();

    let newer = Checkpoint::of_module(&linear(&[9.0; 6], &[9.0; 2])).to_bytes();
    let half = newer.len() / 2;
    let e = write_atomic(&path, |w| FailAfter { inner: w, left: half }.write_all(&newer)).unwrap_err();
    assert!(matches!(&e, CheckpointError::Io { action: "save", .. }), "{e:?}");
    assert!(e.to_string().contains("no space left on device") && e.to_string().contains("model.lamina"), "{e}");

    assert_eq!(std::fs::read(&path).unwrap(), before);
    assert_eq!(dir_listing(dir.path()), ["model.lamina"]);
    let back = Checkpoint::<f32>::load(&path).unwrap();
    assert_eq!(back.model.get("weight").unwrap().to_vec(), [1.0; 6]);

    // A save that succeeds replaces the file, again leaving nothing else behind.
    Checkpoint::<f32>::from_bytes(&newer).unwrap().save(&path).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), newer);
    assert_eq!(dir_listing(dir.path()), ["model.lamina"]);
}

#[test]
fn saving_into_a_missing_directory_is_an_io_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no/such/dir/m.lamina");
    let e = Checkpoint::of_module(&linear(&[0.0; 6], &[0.0; 2])).save(&path).unwrap_err();
    assert!(matches!(e, CheckpointError::Io { action: "save", .. }), "{e:?}");
    let e = Checkpoint::<f32>::load(&path).unwrap_err();
    assert!(matches!(e, CheckpointError::Io { action: "open", .. }) && e.to_string().contains("m.lamina"), "{e}");
}

// ---------------------------------------------------------------- every error

fn good_file() -> Vec<u8> {
    let table = [entry(b"weight", &[2, 3], 24), entry(b"bias", &[2], 8)].concat();
    file(1, 2, &table, NO_STATE, &f32_bytes(&[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 0.5, -1.5]))
}

#[test]
fn bad_magic() {
    let mut f = good_file();
    f[1] = b'X';
    let e = err::<f32>(&f);
    assert!(matches!(&e, CheckpointError::BadMagic { found } if found[1] == b'X'), "{e:?}");
    assert!(e.to_string().starts_with("bad magic"), "{e}");
    // Even a one-byte file that is not ours says so.
    assert!(matches!(err::<f32>(b"{"), CheckpointError::BadMagic { .. }));
}

#[test]
fn truncated_at_every_byte() {
    let f = good_file();
    for cut in 0..f.len() {
        let e = err::<f32>(&f[..cut]);
        assert!(matches!(e, CheckpointError::Truncated { at, .. } if at == cut as u64), "cut {cut}: {e:?}");
        assert!(e.to_string().starts_with(&format!("truncated at byte {cut}:")), "{e}");
    }
    // Through a file too: only the header is read before the length check.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cut.lamina");
    std::fs::write(&path, &f[..50]).unwrap();
    let e = Checkpoint::<f32>::load(&path).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("truncated at byte 50: the header says the file has {} bytes, it ends after 50", f.len())
    );
}

#[test]
fn a_table_that_runs_past_its_end_is_truncated_at_the_field() {
    // Two entries announced, one present: entry 0 spans bytes 32..54, the
    // state length (0) at 54..62 is read as entry 1's name length and rank,
    // and entry 1's data length (from byte 59) runs past the end at 62.
    let f = file(1, 2, &entry(b"a", &[1], 4), &[], &[]);
    let e = err::<f32>(&f);
    assert!(matches!(e, CheckpointError::Truncated { at: 62, .. }), "{e:?}");
    assert_eq!(e.to_string(), "truncated at byte 62: the data length of `` needs 8 bytes from byte 59, 3 remain");
}

#[test]
fn a_length_prefix_larger_than_the_file() {
    // The name length says 1 GB.
    let mut table = 1_000_000_000u32.to_le_bytes().to_vec();
    table.extend(b"abc");
    let f = file(1, 1, &table, NO_STATE, &[]);
    let (e, largest) = largest_allocation(|| err::<f32>(&f));
    assert!(matches!(&e, CheckpointError::OversizeLength { at: 32, len: 1_000_000_000, .. }), "{e:?}");
    assert!(e.to_string().contains("length prefix at byte 32 (the name of entry 0) says 1000000000 bytes"), "{e}");
    assert!(largest < 4096, "allocated {largest} bytes for a {}-byte file", f.len());

    // A consistent shape and data length far beyond the file: 2^20 x 2^20 floats.
    let f = file(1, 1, &entry(b"big", &[1 << 20, 1 << 20], 4 << 40), NO_STATE, &[0; 16]);
    let (e, largest) = largest_allocation(|| err::<f32>(&f));
    assert!(matches!(&e, CheckpointError::OversizeLength { at: 56, len, .. } if *len == 4 << 40), "{e:?}");
    assert!(e.to_string().contains("the data of `big`"), "{e}");
    assert!(largest < 4096, "allocated {largest} bytes");

    // The training state's length prefix.
    let mut f = file(1, 0, &[], &[], &[]);
    let n = f.len();
    f[32..40].copy_from_slice(&u64::MAX.to_le_bytes());
    seal(&mut f);
    let e = err::<f32>(&f);
    assert!(matches!(&e, CheckpointError::OversizeLength { at: 32, .. }), "{e:?}");
    assert_eq!(f.len(), n);

    // A training state whose own (bincode) length prefixes lie is stopped by
    // the state's size limit: a Vec of 2^60 names in an 80-byte file.
    let state = [&[1u8][..], &7u64.to_le_bytes(), &1u64.to_le_bytes(), &[0; 32], &(1u64 << 60).to_le_bytes()].concat();
    let f = file(1, 0, &[], &state, &[]);
    let (e, largest) = largest_allocation(|| err::<f32>(&f));
    assert!(matches!(&e, CheckpointError::Malformed { at: 40, .. }), "{e:?}");
    assert!(e.to_string().contains("the training state"), "{e}");
    assert!(largest < 4096, "allocated {largest} bytes");
}

#[test]
fn shape_and_data_length_disagree() {
    let table = entry(b"w", &[2, 3], 20);
    let f = file(1, 1, &table, NO_STATE, &[0; 20]);
    let e = err::<f32>(&f);
    // The data-length field sits after the name (4 + 1 bytes) and the shape (1 + 16).
    assert!(
        matches!(&e, CheckpointError::ShapeDataMismatch { at: 54, name, data_len: 20, .. } if name == "w"),
        "{e:?}"
    );
    assert_eq!(e.to_string(), "entry `w`: shape [2, 3] and data length 20 bytes (at byte 54) disagree");
    // A shape whose size overflows is the same error, not a panic.
    let f = file(1, 1, &entry(b"w", &[u64::MAX, 2], 8), NO_STATE, &[0; 8]);
    assert!(matches!(err::<f32>(&f), CheckpointError::ShapeDataMismatch { .. }));
}

#[test]
fn unknown_version() {
    let mut f = good_file();
    f[8..12].copy_from_slice(&2u32.to_le_bytes());
    seal(&mut f);
    let e = err::<f32>(&f);
    assert!(matches!(e, CheckpointError::UnknownVersion { found: 2, supported: 1 }), "{e:?}");
    assert!(e.to_string().contains("unknown format version 2"), "{e}");
    // Recognised from the header alone, whatever follows.
    let mut head = f[..32].to_vec();
    head.extend([0xff; 7]);
    assert!(matches!(err::<f32>(&head), CheckpointError::UnknownVersion { .. }));
}

#[test]
fn unknown_and_wrong_element_types() {
    let mut f = good_file();
    f[12] = 9;
    seal(&mut f);
    let e = err::<f32>(&f);
    assert!(matches!(e, CheckpointError::UnknownElementType { code: 9 }), "{e:?}");
    assert!(e.to_string().contains("unknown element type 9 at byte 12"), "{e}");

    let e = err::<f64>(&good_file());
    assert!(
        matches!(e, CheckpointError::WrongElementType { file: ElementType::F32, wanted: ElementType::F64 }),
        "{e:?}"
    );
    assert_eq!(e.to_string(), "wrong element type: the file holds float32 tensors, float64 were asked for");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f32.lamina");
    std::fs::write(&path, good_file()).unwrap();
    assert!(matches!(Checkpoint::<f64>::load(&path), Err(CheckpointError::WrongElementType { .. })));
}

#[test]
fn checksum_mismatch() {
    let mut f = good_file();
    let n = f.len();
    f[n - 8] ^= 0x10; // a bit of the last weight
    let e = err::<f32>(&f);
    assert!(matches!(e, CheckpointError::ChecksumMismatch { .. }), "{e:?}");
    assert!(e.to_string().starts_with("checksum mismatch"), "{e}");
    // The stored checksum is the CRC-32 of everything before it.
    let f = good_file();
    let stored = u32::from_le_bytes(f[f.len() - 4..].try_into().unwrap());
    assert_eq!(stored, crc32fast_free_reference(&f[..f.len() - 4]));
}

/// The standard CRC-32 check value: "123456789" -> 0xCBF43926.
fn crc32fast_free_reference(bytes: &[u8]) -> u32 {
    assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    crc32(bytes)
}

#[test]
fn malformed_fields_name_their_byte() {
    // Bytes after the end the header gives.
    let mut f = good_file();
    let n = f.len();
    f.push(0);
    let e = err::<f32>(&f);
    assert!(matches!(e, CheckpointError::Malformed { at, .. } if at == n as u64), "{e:?}");
    // A name that is not UTF-8.
    let f = file(1, 1, &entry(&[0xff, 0xfe], &[], 4), NO_STATE, &[0; 4]);
    let e = err::<f32>(&f);
    assert!(matches!(e, CheckpointError::Malformed { at: 36, .. }) && e.to_string().contains("not UTF-8"), "{e}");
    // A repeated name.
    let table = [entry(b"a", &[], 4), entry(b"a", &[], 4)].concat();
    let e = err::<f32>(&file(1, 2, &table, NO_STATE, &[0; 8]));
    assert!(e.to_string().contains("entry 1 repeats the name `a`"), "{e}");
    // Non-zero reserved bytes.
    let mut f = good_file();
    f[13] = 1;
    seal(&mut f);
    assert!(err::<f32>(&f).to_string().contains("malformed file at byte 13: the 3 reserved bytes must be zero"));
    // Stray bytes between the data and the checksum.
    let f = file(1, 1, &entry(b"a", &[], 4), NO_STATE, &[0; 6]);
    let e = err::<f32>(&f);
    assert!(e.to_string().contains("2 unexplained bytes"), "{e}");
    // A training state that does not decode.
    let e = err::<f32>(&file(1, 0, &[], &[7], &[]));
    assert!(matches!(e, CheckpointError::Malformed { at: 40, .. }), "{e:?}");
    // A header length below the minimum.
    let mut f = good_file();
    f[16..24].copy_from_slice(&3u64.to_le_bytes());
    assert!(err::<f32>(&f).to_string().contains("less than the minimum"));
}

#[test]
fn missing_unexpected_and_mismatched_keys() {
    let ck = Checkpoint::of_module(&BatchNorm1d::<f32>::new(3));
    let e = ck.load_into(&linear(&[0.0; 6], &[0.0; 2])).unwrap_err();
    let CheckpointError::Keys(keys) = &e else { panic!("{e:?}") };
    assert!(keys.missing.is_empty(), "{keys:?}");
    assert_eq!(keys.unexpected, ["running_mean", "running_var", "num_batches_tracked"]);
    assert_eq!(keys.mismatched, [("weight".to_owned(), vec![2, 3], vec![3]), ("bias".to_owned(), vec![2], vec![3])]);
    let msg = e.to_string();
    assert!(msg.contains("unexpected keys: running_mean") && msg.contains("size mismatch for weight"), "{msg}");

    // Missing keys, and nothing is copied when anything is wrong.
    let l = linear(&[7.0; 6], &[7.0; 2]);
    let mut sd = StateDict::new();
    sd.insert("weight", Tensor::<f32>::zeros(&[2, 3]));
    let e = Checkpoint { model: sd, training: None }.load_into(&l).unwrap_err();
    assert!(matches!(&e, CheckpointError::Keys(k) if k.missing == ["bias"]), "{e:?}");
    assert_eq!(l.weight.to_vec(), [7.0; 6]);
}

#[test]
fn restoring_needs_a_training_state_that_fits() {
    let l = linear(&[0.0; 6], &[0.0; 2]);
    let mut opt = Optimizer::new(l.named_parameters(), Sgd::default());
    let e = Checkpoint::of_module(&l).restore(&l, &mut opt, None).unwrap_err();
    assert!(matches!(e, CheckpointError::NoTrainingState), "{e:?}");

    // A scheduler state without a scheduler to take it, and the reverse.
    let mut sched = StepLR::new(&mut opt, 2, 0.5);
    let with = Checkpoint::training(&l, &opt, Some(&sched), 0, 0);
    let without = Checkpoint::training(&l, &opt, None, 0, 0);
    assert!(with.restore(&l, &mut opt, None).unwrap_err().to_string().contains("no scheduler was given"));
    assert!(without.restore(&l, &mut opt, Some(&mut sched)).unwrap_err().to_string().contains("no scheduler state"));

    // An optimizer of another kind: reported, and the weights stay as they were.
    let other = linear(&[3.0; 6], &[3.0; 2]);
    let adam = Optimizer::new(other.named_parameters(), lamina::optim::Adam::default());
    let ck = Checkpoint::training(&other, &adam, None, 0, 0);
    let e = ck.restore(&l, &mut opt, None).unwrap_err();
    assert!(matches!(e, CheckpointError::Optimizer(_)) && e.to_string().contains("Adam"), "{e}");
    assert_eq!(l.weight.to_vec(), [0.0; 6]);
}
