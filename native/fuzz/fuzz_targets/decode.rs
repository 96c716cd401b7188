//! Any bytes, any format, with or without gzip: `decode` returns a batch or an
//! `IngestError` and never panics; a batch is consistent and encodes.
#![no_main]

use _native::block;
use _native::ingest::point::Window;
use _native::ingest::{decode, Format, Options};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let format = match selector % 3 {
        0 => Format::Json,
        1 => Format::Ndjson,
        _ => Format::Csv,
    };
    let opts = Options {
        window: Window {
            now_us: 1_700_000_000_000_000,
            min_time_us: i64::MIN,
            max_time_us: i64::MAX,
        },
        gzip: selector & 0x80 != 0,
        max_decompressed: 1 << 20,
    };
    if let Ok(b) = decode(body, format, &opts) {
        assert_eq!(b.total, b.points.len() + b.rejected.len());
        let ids: Vec<i64> = (0..b.series.len() as i64).collect();
        let out = b.encode_block(&ids).expect("a decoded batch encodes");
        assert_eq!(block::decode(&out).expect("its block decodes").len(), b.points.len());
    }
});
