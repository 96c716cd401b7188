"""Feature flags: definitions, evaluation (Unleash-compatible bucketing), change stream."""
