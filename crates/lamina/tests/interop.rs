//! PyTorch interop: a CNN trained in PyTorch and saved with safetensors
//! (tests/fixtures/fashion_cnn.*, see the README there) loads into the same
//! model built in lamina, which then reproduces PyTorch's logits; and a
//! state dict exported to safetensors reads back with PyTorch's dtypes.

use lamina::checkpoint::{load_safetensors, safetensors_from_bytes, safetensors_to_bytes, CheckpointError};
use lamina::core::Tensor;
use lamina::layers::{
    BatchNorm2d, Conv2d, ConvConfig, Flatten, Forward, Linear, MaxPool2d, ModuleExt, Padding, ReLU, Sequential,
};
use serde_json::Value;
use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

fn conv3x3(cin: usize, cout: usize) -> Conv2d {
    Conv2d::with_config(ConvConfig { padding: Padding::Explicit([1, 1]), ..ConvConfig::new(cin, cout, [3, 3]) })
}

/// Sequential(Conv2d(1,8,3,padding=1), BatchNorm2d(8), ReLU, MaxPool2d(2),
/// Conv2d(8,16,3,padding=1), BatchNorm2d(16), ReLU, MaxPool2d(2), Flatten,
/// Linear(784,64), ReLU, Linear(64,10)), as fashion_cnn.json describes it.
fn fashion_cnn() -> Sequential {
    Sequential::new()
        .append(conv3x3(1, 8))
        .append(BatchNorm2d::new(8))
        .append(ReLU::default())
        .append(MaxPool2d::new([2, 2]))
        .append(conv3x3(8, 16))
        .append(BatchNorm2d::new(16))
        .append(ReLU::default())
        .append(MaxPool2d::new([2, 2]))
        .append(Flatten::new(1, -1))
        .append(Linear::new(784, 64, true))
        .append(ReLU::default())
        .append(Linear::new(64, 10, true))
}

fn tensor(v: &Value) -> Tensor {
    let shape: Vec<usize> = v["shape"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as usize).collect();
    let data: Vec<f64> = v["data"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
    Tensor::from_f64(&data, &shape)
}

#[test]
fn a_pytorch_cnn_loaded_from_safetensors_reproduces_pytorchs_logits() -> Result<(), CheckpointError> {
    let spec: Value = serde_json::from_str(&std::fs::read_to_string(fixture("fashion_cnn.json")).unwrap()).unwrap();
    let model = fashion_cnn();
    let sd = load_safetensors::<f32>(fixture("fashion_cnn.safetensors"))?;

    // Every entry the JSON lists, with its shape; int64 counters included.
    let listed = spec["state_dict"].as_object().unwrap();
    assert_eq!(sd.len(), listed.len());
    for (name, info) in listed {
        let shape: Vec<usize> =
            info["shape"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as usize).collect();
        assert_eq!(sd.get(name).unwrap_or_else(|| panic!("{name} missing")).shape(), &shape[..], "{name}");
    }
    let tracked = sd.get("1.num_batches_tracked").unwrap().item();
    assert!(tracked > 0.0 && tracked.fract() == 0.0, "num_batches_tracked = {tracked}");

    model.load_state_dict(&sd)?;
    model.eval();
    let logits = model.forward(&tensor(&spec["input"]));
    let want = tensor(&spec["logits"]);
    assert_eq!(logits.shape(), want.shape());
    let (atol, rtol) = (spec["atol"].as_f64().unwrap(), spec["rtol"].as_f64().unwrap());
    for (i, (g, w)) in logits.to_f64_vec().iter().zip(want.to_f64_vec()).enumerate() {
        assert!((g - w).abs() <= atol + rtol * w.abs(), "logit {i}: lamina {g}, PyTorch {w}");
    }
    // The predictions agree with the labels where PyTorch's do.
    let labels: Vec<u64> = spec["labels"].as_array().unwrap().iter().map(|l| l.as_u64().unwrap()).collect();
    let predicted = logits.to_f64_vec().chunks(10).map(argmax).collect::<Vec<_>>();
    let torch_predicted = want.to_f64_vec().chunks(10).map(argmax).collect::<Vec<_>>();
    assert_eq!(predicted, torch_predicted);
    assert!(predicted.iter().zip(&labels).filter(|(p, l)| **p as u64 == **l).count() >= 12);
    Ok(())
}

fn argmax(row: &[f64]) -> usize {
    (0..row.len()).fold(0, |best, i| if row[i] > row[best] { i } else { best })
}

#[test]
fn exporting_to_safetensors_reads_back_the_same_with_pytorchs_dtypes() -> Result<(), CheckpointError> {
    let sd = load_safetensors::<f32>(fixture("fashion_cnn.safetensors"))?;
    let bytes = safetensors_to_bytes(&sd)?;
    let info = lamina::checkpoint::inspect_bytes(&bytes)?;
    let dtype = |name: &str| info.entries.iter().find(|e| e.name == name).unwrap().dtype.clone();
    assert_eq!(dtype("1.num_batches_tracked"), "int64");
    assert_eq!(dtype("0.weight"), "float32");
    let back = safetensors_from_bytes::<f32>(&bytes)?;
    for (name, t) in sd.iter() {
        assert_eq!(back.get(name).unwrap().to_vec(), t.to_vec(), "{name}");
    }
    // The export is byte for byte the file PyTorch's `save_file` wrote for the
    // same tensors: same header (with its `format: pt` metadata), same layout.
    assert_eq!(bytes, std::fs::read(fixture("fashion_cnn.safetensors")).unwrap());

    // f64 models export float64, and the import converts back exactly.
    let sd64 = load_safetensors::<f64>(fixture("fashion_cnn.safetensors"))?;
    let info = lamina::checkpoint::inspect_bytes(&safetensors_to_bytes(&sd64)?)?;
    assert_eq!(info.entries.iter().find(|e| e.name == "0.weight").unwrap().dtype, "float64");
    Ok(())
}

#[test]
fn a_corrupt_safetensors_file_is_an_error() {
    let bytes = std::fs::read(fixture("fashion_cnn.safetensors")).unwrap();
    for cut in [0, 4, 8, 100, bytes.len() - 1] {
        let e = safetensors_from_bytes::<f32>(&bytes[..cut]).unwrap_err();
        assert!(matches!(e, CheckpointError::Safetensors(_)), "cut {cut}: {e:?}");
    }
    // A header length far beyond the file.
    let mut bad = bytes.clone();
    bad[..8].copy_from_slice(&(1u64 << 40).to_le_bytes());
    let e = safetensors_from_bytes::<f32>(&bad).unwrap_err();
    assert!(e.to_string().starts_with("safetensors: "), "{e}");
    // An int64 too large for f32 to hold exactly.
    let big = safetensors_to_bytes(&[("n".to_owned(), Tensor::<f64>::scalar(0.0))].into_iter().collect()).unwrap();
    let mut st = big.clone();
    // The single value is the last 8 bytes; "n" is exported as float64: rewrite as a huge integer-valued float,
    // then read into f32 (floats round, only integers must be exact).
    let n = st.len();
    st[n - 8..].copy_from_slice(&(16_777_217.0f64).to_le_bytes());
    assert_eq!(safetensors_from_bytes::<f32>(&st).unwrap().get("n").unwrap().item(), 16_777_216.0);
    let counter = safetensors_to_bytes(
        &[("bn.num_batches_tracked".to_owned(), Tensor::<f64>::scalar(16_777_217.0))].into_iter().collect(),
    )
    .unwrap();
    let e = safetensors_from_bytes::<f32>(&counter).unwrap_err();
    assert!(e.to_string().contains("16777217 is not exactly representable as float32"), "{e}");
    assert_eq!(
        safetensors_from_bytes::<f64>(&counter).unwrap().get("bn.num_batches_tracked").unwrap().item(),
        16_777_217.0
    );
}
