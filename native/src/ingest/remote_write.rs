//! Decoding of Prometheus remote write 1.0 and 2.0 (snappy block format, protobuf) into a [`super::Batch`] through [`super::Builder::sample`].
