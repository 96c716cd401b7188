"""Metric tenancy: which namespace (and remote-backend tenant) each client is bound to."""
