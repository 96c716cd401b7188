"""Metrics storage: the native codec, the series dictionary, day partitions."""
