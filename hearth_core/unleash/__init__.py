"""Unleash's SDK-facing side: API tokens, registered SDK instances and their metrics."""
