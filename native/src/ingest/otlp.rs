//! Decoding of OTLP/HTTP metrics (ExportMetricsServiceRequest as protobuf or JSON) into a [`super::Batch`] through [`super::Builder::sample`].
