//! Compare the JSON parsers on the real task: decode + validate + hash
//! 100 000 realistic points, as a JSON array and as NDJSON.
//!
//! ```text
//! cargo run --release -p hearth-native --example json_parsers --features bench-parsers
//! ```
//! Prints a Markdown table (best and median of the runs) for
//! `bench/ingest/JSON_PARSERS.md`.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use _native::ingest::json::{JsonParser, SerdeJson, SimdJson, Sonic};
use _native::ingest::point::Window;
use _native::ingest::{decode_with, Format, Options};

const POINTS: usize = 100_000;
const RUNS: usize = 15;
/// Distinct series the points are drawn from.
const SERIES: usize = 2_000;
const NOW: i64 = 1_700_000_000_000_000;

/// xorshift64*: deterministic, dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len() as u64) as usize]
    }
}

fn rfc3339(us: i64) -> String {
    let secs = us.div_euclid(1_000_000);
    let micros = us.rem_euclid(1_000_000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    // civil_from_days (Hinnant)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{micros:06}Z",
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    )
}

/// The identity part of one series: `{"namespace":…,"name":…,"labels":{…}`.
fn series_prefix(r: &mut Rng) -> String {
    const NAMES: &[&str] = &[
        "http_requests_total",
        "http_request_duration_seconds",
        "cpu_usage",
        "mem_rss_bytes",
        "disk_io_bytes",
        "gc_pause_seconds",
        "queue_depth",
        "db_pool_in_use",
        "errors_total",
        "cache_hits_total",
        "cache_misses_total",
        "net_rx_bytes",
        "net_tx_bytes",
        "threads",
        "open_fds",
        "uptime_seconds",
        "jobs_processed_total",
        "latency_p99",
        "temperature",
        "up",
    ];
    const NS: &[&str] = &["app", "infra", "billing", "edge"];
    const REGIONS: &[&str] = &[
        "eu-west-1",
        "us-east-1",
        "us-west-2",
        "ap-south-1",
        "sa-east-1",
    ];
    const METHODS: &[&str] = &["GET", "POST", "PUT", "DELETE"];
    const CODES: &[&str] = &["200", "201", "301", "404", "500"];
    let mut s = String::with_capacity(160);
    let _ = write!(
        s,
        "{{\"namespace\":\"{}\",\"name\":\"{}\",\"labels\":{{\"host\":\"host-{:03}\",\"region\":\"{}\"",
        r.pick(NS),
        r.pick(NAMES),
        r.below(200),
        r.pick(REGIONS)
    );
    if r.below(2) == 0 {
        let _ = write!(
            s,
            ",\"method\":\"{}\",\"code\":\"{}\"",
            r.pick(METHODS),
            r.pick(CODES)
        );
    }
    s.push('}');
    s
}

/// One realistic point object (compact JSON, ~120 bytes): a series from the
/// pool, a value (integer, full-precision or 3-decimal float) and a timestamp
/// (RFC 3339 with µs, epoch milliseconds or fractional epoch seconds).
fn point(r: &mut Rng, pool: &[String]) -> String {
    let mut s = pool[r.below(pool.len() as u64) as usize].clone();
    s.push_str(",\"value\":");
    match r.below(3) {
        0 => {
            let _ = write!(s, "{}", r.below(1_000_000));
        }
        1 => {
            let _ = write!(
                s,
                "{}",
                (r.next() >> 11) as f64 / (1u64 << 53) as f64 * 1000.0
            );
        }
        _ => {
            let _ = write!(s, "{:.3}", (r.below(100_000) as f64) / 7.0);
        }
    }
    let t = NOW - (r.below(3_600_000_000) as i64);
    s.push_str(",\"timestamp\":");
    match r.below(3) {
        0 => {
            let _ = write!(s, "\"{}\"", rfc3339(t));
        }
        1 => {
            let _ = write!(s, "{}", t / 1000);
        }
        _ => {
            let _ = write!(s, "{}.{:06}", t / 1_000_000, t % 1_000_000);
        }
    }
    s.push('}');
    s
}

fn bodies() -> (Vec<u8>, Vec<u8>) {
    let mut r = Rng(0x9E37_79B9_7F4A_7C15);
    let pool: Vec<String> = (0..SERIES).map(|_| series_prefix(&mut r)).collect();
    let pts: Vec<String> = (0..POINTS).map(|_| point(&mut r, &pool)).collect();
    let json = format!("[{}]", pts.join(","));
    let ndjson = pts.join("\n") + "\n";
    (json.into_bytes(), ndjson.into_bytes())
}

fn time<P: JsonParser>(body: &[u8], format: Format) -> (Duration, Duration) {
    let opts = Options {
        window: Window {
            now_us: NOW,
            min_time_us: NOW - 86_400_000_000,
            max_time_us: NOW + 3_600_000_000,
        },
        gzip: false,
        max_decompressed: usize::MAX,
    };
    let mut times = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let t0 = Instant::now();
        let b = decode_with::<P>(body, format, &opts).expect("decodes");
        times.push(t0.elapsed());
        assert_eq!(
            b.points.len(),
            POINTS,
            "{}: {:?}",
            P::NAME,
            b.rejected.first()
        );
        std::hint::black_box(b);
    }
    times.sort();
    (times[0], times[RUNS / 2])
}

fn row<P: JsonParser>(body: &[u8], format: &str, f: Format) {
    let (best, median) = time::<P>(body, f);
    let mb = body.len() as f64 / 1e6;
    println!(
        "| {:<10} | {:<6} | {:>8.2} | {:>8.2} | {:>7.0} | {:>7.0} | {:>6.2} |",
        P::NAME,
        format,
        best.as_secs_f64() * 1e3,
        median.as_secs_f64() * 1e3,
        mb / median.as_secs_f64(),
        mb / best.as_secs_f64(),
        POINTS as f64 / median.as_secs_f64() / 1e6,
    );
}

fn main() {
    let (json, ndjson) = bodies();
    println!(
        "{POINTS} points of {SERIES} series; JSON array {:.2} MB, NDJSON {:.2} MB; {RUNS} runs each",
        json.len() as f64 / 1e6,
        ndjson.len() as f64 / 1e6
    );
    println!("| parser     | format | best ms  | median ms | MB/s (median) | MB/s (best) | M points/s (median) |");
    println!("|---|---|---:|---:|---:|---:|---:|");
    row::<Sonic>(&json, "json", Format::Json);
    row::<SimdJson>(&json, "json", Format::Json);
    row::<SerdeJson>(&json, "json", Format::Json);
    row::<Sonic>(&ndjson, "ndjson", Format::Ndjson);
    row::<SimdJson>(&ndjson, "ndjson", Format::Ndjson);
    row::<SerdeJson>(&ndjson, "ndjson", Format::Ndjson);
    encode_rates(&json);
}

/// Write-log block encoding of the decoded points (parser-independent).
fn encode_rates(json: &[u8]) {
    let opts = Options {
        window: Window {
            now_us: NOW,
            min_time_us: NOW - 86_400_000_000,
            max_time_us: NOW + 3_600_000_000,
        },
        gzip: false,
        max_decompressed: usize::MAX,
    };
    let b = decode_with::<Sonic>(json, Format::Json, &opts).expect("decodes");
    let ids: Vec<i64> = (0..b.series.len() as i64).collect();
    let mut best = Duration::MAX;
    let mut len = 0;
    for _ in 0..20 {
        let t0 = Instant::now();
        let block = b.encode_block(&ids).expect("encodes");
        best = best.min(t0.elapsed());
        len = block.len();
        std::hint::black_box(block);
    }
    println!(
        "\nencode_block: {} points of {} series in {:.3} ms (best of 20) = {:.0} M points/s, {:.2} MB",
        b.points.len(),
        b.series.len(),
        best.as_secs_f64() * 1e3,
        b.points.len() as f64 / best.as_secs_f64() / 1e6,
        len as f64 / 1e6
    );
}
