"""Usage and billing: ``meter`` counts requests, points and bytes per client and day (flushed
to PostgreSQL by ``repo``); ``service`` prices them into reports."""

from hearth_core.usage.meter import UsageMeter

__all__ = ["UsageMeter"]
