//! Prometheus v2.42.0's own PromQL test files (`testdata/*.test`) run against
//! this engine: `load`, `eval instant at`, `eval_fail`, `eval_ordered`, `clear`.
//! (H1 writes the runner.)
