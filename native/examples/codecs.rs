//! Chunk codec comparison and write-log block speed (bench/ingest/CODECS.md).
//!
//! ```text
//! cargo run --release -p hearth-native --example codecs --features bench-codecs [samples_per_chunk...]
//! ```
//!
//! For each data shape, 2,000 series of N samples (default N = 120, 480 and
//! 5,760: 30 min, 2 h and 24 h of 15-s scrapes) are encoded and decoded by
//! our chunk format with (a) its Gorilla codec and (b) its pcodec codec (`pco`
//! at level 4, one pco file for the timestamps and one for the values), header
//! and checksum included. With `PCO_LEVEL=n` set, only raw pco at level n runs
//! (to compare levels).
//! Every decode is checked bit for bit. Sizes are bytes per sample, speeds
//! samples per second on one core (best of 3 passes).

use std::hint::black_box;
use std::time::Instant;

use _native::{block, chunk};

const SERIES: usize = 2_000;
const STALE: u64 = 0x7ff0_0000_0000_0002;
const T0_MS: i64 = 1_764_500_000_000;

/// splitmix64: a small deterministic generator, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn gauss(&mut self) -> f64 {
        let (u, v) = (self.unit().max(1e-300), self.unit());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

/// Scrape timestamps in µs: `interval_s` apart with ± `jitter_ms` of jitter,
/// at millisecond precision (remote write) or microsecond precision.
fn scrape_times(
    rng: &mut Rng,
    n: usize,
    interval_s: i64,
    jitter_ms: i64,
    us_precision: bool,
) -> Vec<i64> {
    let start = (T0_MS + rng.below(interval_s as u64 * 1000) as i64) * 1000;
    (0..n as i64)
        .map(|i| {
            let j = if us_precision {
                rng.below((2 * jitter_ms * 1000 + 1) as u64) as i64 - jitter_ms * 1000
            } else {
                (rng.below((2 * jitter_ms + 1) as u64) as i64 - jitter_ms) * 1000
            };
            start + i * interval_s * 1_000_000 + j
        })
        .collect()
}

type Shape = (&'static str, fn(&mut Rng, usize) -> (Vec<i64>, Vec<f64>));

fn counter(rng: &mut Rng, n: usize) -> (Vec<i64>, Vec<f64>) {
    let ts = scrape_times(rng, n, 15, 3, false);
    let mut v = rng.below(100_000) as f64;
    let vs = (0..n)
        .map(|_| {
            v += rng.below(10) as f64;
            v
        })
        .collect();
    (ts, vs)
}

fn counter_us_10s(rng: &mut Rng, n: usize) -> (Vec<i64>, Vec<f64>) {
    let (_, vs) = counter(rng, n);
    (scrape_times(rng, n, 10, 5, true), vs)
}

fn gauge_noise(rng: &mut Rng, n: usize) -> (Vec<i64>, Vec<f64>) {
    let ts = scrape_times(rng, n, 15, 3, false);
    let base = 20.0 + rng.unit() * 80.0;
    let vs = (0..n)
        .map(|i| base + 5.0 * (i as f64 / 40.0).sin() + rng.gauss())
        .collect();
    (ts, vs)
}

fn gauge_2dp(rng: &mut Rng, n: usize) -> (Vec<i64>, Vec<f64>) {
    let (ts, vs) = gauge_noise(rng, n);
    (
        ts,
        vs.into_iter()
            .map(|v| (v * 100.0).round() / 100.0)
            .collect(),
    )
}

fn gauge_bytes(rng: &mut Rng, n: usize) -> (Vec<i64>, Vec<f64>) {
    // e.g. process_resident_memory_bytes: large integers drifting by pages.
    let ts = scrape_times(rng, n, 10, 2, false);
    let mut v = (rng.below(1 << 20) + (1 << 20)) as f64 * 4096.0;
    let vs = (0..n)
        .map(|_| {
            v += (rng.below(65) as f64 - 32.0) * 4096.0;
            v
        })
        .collect();
    (ts, vs)
}

fn constant(rng: &mut Rng, n: usize) -> (Vec<i64>, Vec<f64>) {
    (scrape_times(rng, n, 15, 3, false), vec![1.0; n])
}

fn counter_specials(rng: &mut Rng, n: usize) -> (Vec<i64>, Vec<f64>) {
    // Staleness markers (targets gone for a while), ±Inf and -0.0 sprinkled in.
    let (ts, mut vs) = counter(rng, n);
    for v in vs.iter_mut() {
        match rng.below(100) {
            0..=4 => *v = f64::from_bits(STALE),
            5 => *v = f64::INFINITY,
            6 => *v = f64::NEG_INFINITY,
            7 => *v = -0.0,
            _ => {}
        }
    }
    (ts, vs)
}

fn out_of_order(rng: &mut Rng, n: usize) -> (Vec<i64>, Vec<f64>) {
    // Irregular times (1 ms to 60 s apart, µs precision), shuffled: every codec
    // gets them sorted first (the sort is not timed).
    let mut t = T0_MS * 1000;
    let mut pairs: Vec<(i64, f64)> = (0..n)
        .map(|_| {
            t += 1_000 + rng.below(60_000_000) as i64;
            (t, rng.gauss() * 1000.0)
        })
        .collect();
    for i in (1..pairs.len()).rev() {
        pairs.swap(i, rng.below(i as u64 + 1) as usize);
    }
    pairs.sort_by_key(|p| p.0);
    pairs.into_iter().unzip()
}

const SHAPES: [Shape; 8] = [
    ("counter 15s, ms jitter", counter),
    ("counter 10s, µs jitter", counter_us_10s),
    ("gauge, full-precision noise", gauge_noise),
    ("gauge, 2 decimals", gauge_2dp),
    ("gauge, integer bytes", gauge_bytes),
    ("constant", constant),
    ("counter + stale/Inf/-0.0", counter_specials),
    ("irregular, out of order", out_of_order),
];

trait Codec {
    fn name(&self) -> &'static str;
    fn encode(&self, ts: &[i64], vs: &[f64]) -> Vec<u8>;
    /// Bytes of the encoding spent on timestamps (for the per-column figures).
    fn ts_bytes(&self, ts: &[i64]) -> f64;
    fn decode(&self, data: &[u8]) -> (Vec<i64>, Vec<f64>);
}

struct Gorilla;

impl Codec for Gorilla {
    fn name(&self) -> &'static str {
        "gorilla"
    }
    fn encode(&self, ts: &[i64], vs: &[f64]) -> Vec<u8> {
        chunk::encode_with(chunk::Codec::Gorilla, ts, vs).unwrap()
    }
    fn ts_bytes(&self, ts: &[i64]) -> f64 {
        // With a constant value each later sample spends exactly one value bit
        // and the first 64: what is left is header + timestamps.
        let n = ts.len() as f64;
        chunk::encode_with(chunk::Codec::Gorilla, ts, &vec![0.0; ts.len()])
            .unwrap()
            .len() as f64
            - (n - 1.0) / 8.0
            - 8.0
    }
    fn decode(&self, data: &[u8]) -> (Vec<i64>, Vec<f64>) {
        let s = chunk::decode(data).unwrap();
        (s.timestamps, s.values)
    }
}

struct Pco;

impl Codec for Pco {
    fn name(&self) -> &'static str {
        "pco"
    }
    fn encode(&self, ts: &[i64], vs: &[f64]) -> Vec<u8> {
        chunk::encode_with(chunk::Codec::Pco, ts, vs).unwrap()
    }
    fn ts_bytes(&self, ts: &[i64]) -> f64 {
        pco::standalone::simple_compress(ts, &pco_config())
            .unwrap()
            .len() as f64
    }
    fn decode(&self, data: &[u8]) -> (Vec<i64>, Vec<f64>) {
        let s = chunk::decode(data).unwrap();
        (s.timestamps, s.values)
    }
}

/// Raw pco at the level of `PCO_LEVEL` (to compare levels without rebuilding).
struct PcoLevel;

impl Codec for PcoLevel {
    fn name(&self) -> &'static str {
        "pco (PCO_LEVEL)"
    }
    fn encode(&self, ts: &[i64], vs: &[f64]) -> Vec<u8> {
        let a = pco::standalone::simple_compress(ts, &pco_config()).unwrap();
        let b = pco::standalone::simple_compress(vs, &pco_config()).unwrap();
        let mut out = (a.len() as u32).to_le_bytes().to_vec();
        out.extend_from_slice(&a);
        out.extend_from_slice(&b);
        out
    }
    fn ts_bytes(&self, ts: &[i64]) -> f64 {
        Pco.ts_bytes(ts) + 4.0
    }
    fn decode(&self, data: &[u8]) -> (Vec<i64>, Vec<f64>) {
        let n = u32::from_le_bytes(data[..4].try_into().unwrap()) as usize;
        (
            pco::standalone::simple_decompress(&data[4..4 + n]).unwrap(),
            pco::standalone::simple_decompress(&data[4 + n..]).unwrap(),
        )
    }
}

/// pco at the level of `PCO_LEVEL` (default: the chunk codec's).
fn pco_config() -> pco::ChunkConfig {
    let level =
        std::env::var("PCO_LEVEL").map_or(chunk::pcodec::LEVEL, |l| l.parse().expect("PCO_LEVEL"));
    pco::ChunkConfig::default().with_compression_level(level)
}

fn best_of_3(mut f: impl FnMut()) -> f64 {
    (0..3)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn bits(v: &[f64]) -> Vec<u64> {
    v.iter().map(|x| x.to_bits()).collect()
}

fn chunk_table(n: usize) {
    println!("\n### {n} samples per chunk ({SERIES} series)\n");
    println!("| shape | codec | bytes/sample | of which timestamps | encode Msamples/s | decode Msamples/s |");
    println!("|---|---|---:|---:|---:|---:|");
    let codecs: Vec<&dyn Codec> = if std::env::var_os("PCO_LEVEL").is_some() {
        vec![&PcoLevel]
    } else {
        vec![&Gorilla, &Pco]
    };
    for (name, make) in SHAPES {
        let mut rng = Rng(n as u64 * 31 + name.len() as u64);
        let data: Vec<(Vec<i64>, Vec<f64>)> = (0..SERIES).map(|_| make(&mut rng, n)).collect();
        let total = (SERIES * n) as f64;
        for &codec in &codecs {
            let encoded: Vec<Vec<u8>> = data.iter().map(|(t, v)| codec.encode(t, v)).collect();
            for ((t, v), e) in data.iter().zip(&encoded) {
                let (t2, v2) = codec.decode(e);
                assert!(
                    &t2 == t && bits(&v2) == bits(v),
                    "{} does not round-trip {name}",
                    codec.name()
                );
            }
            let bytes: usize = encoded.iter().map(Vec::len).sum();
            let ts_bytes: f64 = data.iter().map(|(t, _)| codec.ts_bytes(t)).sum();
            let enc = best_of_3(|| {
                for (t, v) in &data {
                    black_box(codec.encode(black_box(t), black_box(v)));
                }
            });
            let dec = best_of_3(|| {
                for e in &encoded {
                    black_box(codec.decode(black_box(e)));
                }
            });
            println!(
                "| {name} | {} | {:.2} | {:.2} | {:.1} | {:.1} |",
                codec.name(),
                bytes as f64 / total,
                ts_bytes / total,
                total / enc / 1e6,
                total / dec / 1e6
            );
        }
    }
}

fn block_table() {
    println!("\n### Write-log blocks (one core)\n");
    println!("| batch | bytes/sample | encode Msamples/s | decode Msamples/s | decode + group Msamples/s |");
    println!("|---|---:|---:|---:|---:|");
    let mut rng = Rng(7);
    for (label, series, per_series, shuffled) in [
        (
            "10,000 series × 1 sample (one scrape)",
            10_000usize,
            1usize,
            false,
        ),
        (
            "1,250 series × 1 sample (one of 8 senders)",
            1_250,
            1,
            false,
        ),
        ("10,000 series × 10 samples, shuffled", 10_000, 10, true),
    ] {
        let n = series * per_series;
        let mut rows: Vec<(i64, i64, f64)> = Vec::with_capacity(n);
        let t0 = T0_MS * 1000;
        for s in 0..series {
            let mut v = rng.below(1_000_000) as f64;
            for k in 0..per_series {
                v += rng.below(10) as f64;
                rows.push((
                    1000 + s as i64,
                    t0 + k as i64 * 15_000_000 + rng.below(3) as i64 * 1000,
                    v,
                ));
            }
        }
        if shuffled {
            for i in (1..rows.len()).rev() {
                rows.swap(i, rng.below(i as u64 + 1) as usize);
            }
        }
        let ids: Vec<i64> = rows.iter().map(|r| r.0).collect();
        let ts: Vec<i64> = rows.iter().map(|r| r.1).collect();
        let vs: Vec<f64> = rows.iter().map(|r| r.2).collect();
        let reps = (2_000_000 / n).max(1);
        let data = block::encode(&ids, &ts, &vs).unwrap();
        let enc = best_of_3(|| {
            for _ in 0..reps {
                black_box(block::encode(black_box(&ids), black_box(&ts), black_box(&vs)).unwrap());
            }
        });
        let dec = best_of_3(|| {
            for _ in 0..reps {
                black_box(block::decode(black_box(&data)).unwrap());
            }
        });
        let grp = best_of_3(|| {
            for _ in 0..reps {
                let b = block::decode(black_box(&data)).unwrap();
                black_box(b.runs().count());
            }
        });
        let total = (n * reps) as f64;
        println!(
            "| {label} | {:.2} | {:.1} | {:.1} | {:.1} |",
            data.len() as f64 / n as f64,
            total / enc / 1e6,
            total / dec / 1e6,
            total / grp / 1e6
        );
    }
}

fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("samples per chunk"))
        .collect();
    let sizes = if sizes.is_empty() {
        vec![120, 480, 5_760]
    } else {
        sizes
    };
    for n in sizes {
        chunk_table(n);
    }
    block_table();
}
