"""User profiles and roles (PII encrypted at rest)."""
