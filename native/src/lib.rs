//! Native core of Hearth Core Services.
//!
//! Everything outside `py` is pure Rust, usable and tested without Python
//! (`cargo test`). The PyO3 binding layer lives in `src/py/` and is compiled
//! only with the `python` feature, which maturin enables when it builds the
//! `hearth_core._native` extension module.

pub mod block;
pub mod bucket;
pub mod chunk;
pub mod compact;
pub mod flags;
pub mod ingest;
pub mod promql;
pub mod query;
pub mod series;
pub mod series_map;
pub mod varint;

#[cfg(feature = "python")]
mod py;

// Only the extension module: `cargo test` keeps the system allocator.
#[cfg(feature = "python")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
