//! Any bytes: `chunk::decode` returns samples or a `ChunkError` and never
//! panics. The first input byte picks whether the checksum is recomputed, so
//! the structural checks behind it are fuzzed too; whatever decodes has
//! strictly increasing timestamps and as many samples as its header says.
#![no_main]

use _native::chunk;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let mut bytes = rest.to_vec();
    if selector & 1 == 1 && bytes.len() >= 5 {
        let n = bytes.len() - 4;
        let sum = xxhash_rust::xxh64::xxh64(&bytes[..n], 0) as u32;
        bytes[n..].copy_from_slice(&sum.to_le_bytes());
    }
    if let Ok(s) = chunk::decode(&bytes) {
        assert_eq!(s.timestamps.len(), s.values.len());
        assert!(s.timestamps.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(chunk::header(&bytes).unwrap().count, s.len());
    }
});
