//! `lamina-inspect`: the binary lists a good file's entries and, on a bad
//! one, prints the loader's error and exits with status 1 (never a panic).

use std::path::PathBuf;
use std::process::{Command, Output};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

fn run(path: &std::path::Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lamina-inspect")).arg(path).output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn lists_a_lamina_checkpoint() {
    let out = run(&fixture("linear_sgd.lamina"));
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(stdout.contains("lamina checkpoint, format version 1, float32"), "{stdout}");
    assert!(stdout.contains("step 7, epoch 2, optimizer SGD, scheduler none"), "{stdout}");
    assert!(stdout.contains("2 entries, 32 bytes of data"), "{stdout}");
    let weight = stdout.lines().find(|l| l.starts_with("weight")).unwrap();
    for field in ["float32", "[2, 3]", "24 B", "[0, 1, 2, 3, 4, 5]"] {
        assert!(weight.contains(field), "{weight:?} lacks {field}");
    }
    let bias = stdout.lines().find(|l| l.starts_with("bias")).unwrap();
    assert!(bias.contains("[0.5, -1.5]") && bias.contains("8 B"), "{bias}");
}

#[test]
fn lists_a_pytorch_safetensors_file() {
    let out = run(&fixture("fashion_cnn.safetensors"));
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(stdout.contains("safetensors file") && stdout.contains("18 entries"), "{stdout}");
    let tracked = stdout.lines().find(|l| l.starts_with("1.num_batches_tracked")).unwrap();
    assert!(tracked.contains("int64") && tracked.contains("[]") && tracked.contains("8 B"), "{tracked}");
    let fc = stdout.lines().find(|l| l.starts_with("9.weight")).unwrap();
    assert!(fc.contains("float32") && fc.contains("[64, 784]") && fc.contains(&format!("{} B", 64 * 784 * 4)), "{fc}");
    assert!(fc.ends_with(", ...]"), "{fc}");
}

#[test]
fn a_bad_file_prints_the_error_and_exits_with_status_1() {
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read(fixture("linear_sgd.lamina")).unwrap();
    let cases: Vec<(&str, Vec<u8>, String)> = vec![
        ("cut.lamina", good[..100].to_vec(), "truncated at byte 100".into()),
        (
            "flip.lamina",
            {
                let mut f = good.clone();
                let n = f.len();
                f[n - 10] ^= 4;
                f
            },
            "checksum mismatch".into(),
        ),
        ("text.lamina", b"hello, world".to_vec(), "bad magic".into()),
        ("empty.safetensors", Vec::new(), "safetensors:".into()),
    ];
    for (name, bytes, want) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let out = run(&path);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name}: {stderr}");
        assert!(stderr.starts_with("lamina-inspect: ") && stderr.contains(&want), "{name}: {stderr}");
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
        assert!(out.stdout.is_empty(), "{name}");
    }
    let out = run(&dir.path().join("missing.lamina"));
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("cannot read"), "{}", text(&out.stderr));
    // No argument: usage, status 2.
    let out = Command::new(env!("CARGO_BIN_EXE_lamina-inspect")).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("usage: lamina-inspect FILE"));
}
