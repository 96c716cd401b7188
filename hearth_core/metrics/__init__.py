"""Metrics: ``query`` (matchers, Query, the analytics SQL builder — no I/O), ``repo`` (all the
SQL), ``service`` (query results and series pages), ``series`` (the in-memory series
dictionary), ``partitions`` (day partitions), ``codec`` (the native decoder and block encoder),
``influx`` (the line protocol decoder)."""
