"""Remote mode (``HEARTH_METRICS_STORE=remote``): a Prometheus-compatible engine stores and
queries metrics; Hearth decodes, guards, encodes remote write and forwards PromQL."""
