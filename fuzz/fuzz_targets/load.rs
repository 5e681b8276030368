//! Feeds arbitrary bytes to every loader: the checkpoint loader (both element
//! types), the inspector (which also tries safetensors) and the safetensors
//! importer. None may panic or allocate more than the input justifies (run
//! with `-malloc_limit_mb=64`).
//!
//! Most random inputs fail the CRC-32 check; the target also re-seals each
//! input (file length and checksum made consistent) so that the fuzzer
//! reaches the entry table and the training-state decoder.
#![no_main]

use lamina::checkpoint::{inspect_bytes, safetensors_from_bytes, Checkpoint};
use libfuzzer_sys::fuzz_target;

fn load_all(data: &[u8]) {
    let _ = Checkpoint::<f32>::from_bytes(data);
    let _ = Checkpoint::<f64>::from_bytes(data);
    let _ = inspect_bytes(data);
}

fuzz_target!(|data: &[u8]| {
    load_all(data);
    let _ = safetensors_from_bytes::<f32>(data);
    if data.len() >= 44 {
        let mut sealed = data.to_vec();
        let n = sealed.len();
        sealed[16..24].copy_from_slice(&(n as u64).to_le_bytes());
        let crc = crc32fast::hash(&sealed[..n - 4]);
        sealed[n - 4..].copy_from_slice(&crc.to_le_bytes());
        load_all(&sealed);
    }
});
