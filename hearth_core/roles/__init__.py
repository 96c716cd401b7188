"""Roles: named sets of scopes, and which users hold them."""
