//! Cost of one compaction pass (`_native::compact::compact`), one core:
//! `cargo run --release -p hearth-native --example compact [series...]`
//! (bench/ingest/CODECS.md, "Compaction").
//!
//! Shapes, per series a 15-s counter with ms jitter:
//! - open window: one block of one new sample per series (a scrape) merged
//!   into an existing 240-sample chunk (the open 2-h window, half full);
//! - fresh window: 240 blocks of one sample per series (an hour of scrapes)
//!   into an empty window.

use std::collections::HashMap;
use std::time::Instant;

use _native::block;
use _native::chunk::{self, Codec};
use _native::compact::{self, HOUR_US};

const WINDOW: i64 = 2 * HOUR_US;
const T0: i64 = 1_764_504_000_000_000;
const STEP: i64 = 15_000_000;

/// Timestamp and value of sample `i` of series `s` (deterministic jitter).
fn sample(s: i64, i: i64) -> (i64, f64) {
    let h = (s.wrapping_mul(0x9e37_79b9) ^ i.wrapping_mul(0x85eb_ca6b)) as u64;
    let jitter = (h % 7) as i64 - 3;
    (
        T0 + STEP / 2 + i * STEP + jitter * 1000,
        (i * 5 + (h % 5) as i64) as f64,
    )
}

fn scrape_block(series: i64, i: i64) -> Vec<u8> {
    let ids: Vec<i64> = (0..series).collect();
    let (ts, vs): (Vec<i64>, Vec<f64>) = ids.iter().map(|&s| sample(s, i)).unzip();
    block::encode(&ids, &ts, &vs).unwrap()
}

fn best_of<T>(runs: usize, mut f: impl FnMut() -> T) -> (f64, T) {
    let mut best = f64::INFINITY;
    let mut last = None;
    for _ in 0..runs {
        let t = Instant::now();
        let out = f();
        best = best.min(t.elapsed().as_secs_f64());
        last = Some(out);
    }
    (best, last.unwrap())
}

fn row(shape: &str, series: i64, codec: &str, new: usize, written: usize, secs: f64, bytes: usize) {
    println!(
        "| {shape} | {series} | {codec} | {new} | {written} | {:.0} | {:.2} | {:.2} | {:.2} |",
        secs * 1e3,
        new as f64 / secs / 1e6,
        written as f64 / secs / 1e6,
        bytes as f64 / written as f64,
    );
}

fn main() {
    let sizes: Vec<i64> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("series count"))
        .collect();
    let sizes = if sizes.is_empty() {
        vec![10_000, 100_000]
    } else {
        sizes
    };
    let none = HashMap::new();
    println!("| pass | series | codec | new samples | samples written | ms per pass | new M samples/s | written M samples/s | chunk B/sample |");
    println!("|---|---:|---|---:|---:|---:|---:|---:|---:|");
    for &n in &sizes {
        let block = scrape_block(n, 240);
        for (codec, name) in [(Codec::Pco, "pco"), (Codec::Gorilla, "gorilla")] {
            let existing: HashMap<(i64, i64), Vec<u8>> = (0..n)
                .map(|s| {
                    let (ts, vs): (Vec<i64>, Vec<f64>) = (0..240).map(|i| sample(s, i)).unzip();
                    ((s, T0), chunk::encode_with(codec, &ts, &vs).unwrap())
                })
                .collect();
            let blocks = [&block];
            let (secs, out) = best_of(3, || {
                compact::compact(&blocks, &existing, WINDOW, codec, &none).unwrap()
            });
            assert_eq!(out.len(), n as usize);
            assert!(out.iter().all(|c| c.samples == 241));
            let bytes = out.iter().map(|c| c.chunk.len()).sum();
            row(
                "1 new into 240 (open window)",
                n,
                name,
                n as usize,
                241 * n as usize,
                secs,
                bytes,
            );
        }
        let blocks: Vec<Vec<u8>> = (0..240).map(|i| scrape_block(n, i)).collect();
        let empty: HashMap<(i64, i64), Vec<u8>> = HashMap::new();
        for (codec, name) in [(Codec::Pco, "pco"), (Codec::Gorilla, "gorilla")] {
            let (secs, out) = best_of(3, || {
                compact::compact(&blocks, &empty, WINDOW, codec, &none).unwrap()
            });
            assert!(out.iter().all(|c| c.samples == 240));
            let bytes = out.iter().map(|c| c.chunk.len()).sum();
            let total = 240 * n as usize;
            row(
                "240 new into empty window",
                n,
                name,
                total,
                total,
                secs,
                bytes,
            );
        }
    }
}
