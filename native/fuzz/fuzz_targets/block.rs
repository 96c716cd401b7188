//! Any bytes: `block::decode` returns a block or a `BlockError` and never
//! panics; the first input byte picks whether the checksum is recomputed.
//! Whatever decodes has equal columns sorted by (series, time).
#![no_main]

use _native::block;
use libfuzzer_sys::fuzz_target;
use xxhash_rust::xxh64::Xxh64;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let mut bytes = rest.to_vec();
    if selector & 1 == 1 && bytes.len() >= block::HEADER_LEN {
        let mut h = Xxh64::new(0);
        h.update(&bytes[..20]);
        h.update(&bytes[block::HEADER_LEN..]);
        let sum = h.digest();
        bytes[20..block::HEADER_LEN].copy_from_slice(&sum.to_le_bytes());
    }
    if let Ok(b) = block::decode(&bytes) {
        assert_eq!(b.series_ids.len(), b.timestamps.len());
        assert_eq!(b.values.len(), b.timestamps.len());
        let keys: Vec<(i64, i64)> = b.series_ids.iter().copied().zip(b.timestamps.iter().copied()).collect();
        assert!(keys.windows(2).all(|w| w[0] <= w[1]));
    }
});
