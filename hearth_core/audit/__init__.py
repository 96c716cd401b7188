"""The audit log: who changed what, before and after, under which request.

``repo.record`` writes a row inside the caller's transaction (``hearth_core.db.audited``
wraps that with the change and its NOTIFY); ``service`` searches and verifies the chain."""

from hearth_core.audit.repo import record
from hearth_core.audit.service import search, verify

__all__ = ["record", "search", "verify"]
