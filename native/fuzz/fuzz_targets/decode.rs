//! Any bytes, any format, with or without gzip: `decode` returns a batch or an
//! `IngestError` and never panics; a batch is consistent and encodes.
#![no_main]

use _native::copy;
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
        let ids: Vec<i32> = (0..b.series.len() as i32).collect();
        let out = copy::encode_points(&b.points, &ids);
        assert_eq!(out.len(), b.points.len() * copy::POINT_TUPLE_LEN);
        let _ = copy::encode_rollups(&copy::rollups(&b.points, &ids, 60_000_000));
    }
});
