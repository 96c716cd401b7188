"""Centralised rate limiting: policies, a Redis token bucket (Lua), an in-process fallback."""
