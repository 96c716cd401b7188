//! Decoding of InfluxDB line protocol (v1 /write and v2 /api/v2/write) into a [`super::Batch`] through [`super::Builder::sample`].
