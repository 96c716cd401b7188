"""What every benchmark under bench/ is built from (no bench imports another bench's script).

- ``log``: ``say`` (progress on stderr), ``BenchError``, ``run_main`` (the entry point).
- ``paths``: the repository root and the venv's tools (``hearth``, ``locust``, ``py-spy``).
- ``server``: ``hearth_server(workers=, env=, data_dir=, share=)`` — ``hearth serve`` on a
  private data dir and free ports, ready; ``hello_server()`` — the aiohttp hello-world peer.
- ``client``: ``http``, ``get_json``, ``post_json``, ``create_client``, ``bearer_token``.
- ``wrk``: ``Request`` and ``measure(name, request, connections, duration, warmup, rounds)``
  → ``Result`` (median of the rounds, their spread, wrk's errors).
- ``stats``: ``median``, ``pct``, ``spread``.
- ``machine``: ``machine_info``, ``noise`` (load average and what else runs), ``CpuMeter``
  (CPU s of the server, its PostgreSQL/Redis, other process trees such as a peer, the senders).
- ``profiler``: py-spy on the server.
- ``results``: ``figure`` and ``write_results`` (``results.json``), ``write_markdown``
  (``RESULTS.md``), ``finish`` (the exit code and the error banner).
- ``tables``, ``charts``: Markdown/terminal tables, matplotlib on Agg.
- ``suite``: what ``make bench`` runs each bench through (exit code, time, last error lines).
- ``peers``: ``prometheus_server()``, ``victoria_server()`` — the stores ingest is compared
  with (``make bench-peers`` installs them), on private data dirs and free ports; ``disk_bytes``;
  ``count_samples`` — a scrapes load's samples counted through a Prometheus query API (a
  peer's, or Hearth's).
- ``remote_write``: Prometheus remote write 1.0 bodies (protobuf ``WriteRequest``, snappy).
- ``sharded``: ``send_sharded`` — pre-encoded requests from sharded senders over forked
  processes, every answer checked; ``send_sharded_for`` — the same for a duration, requests made
  as they go, samples acknowledged per second.
- ``scrapes``: scrape-shaped samples (bench/peers, bench/store): ``make_data`` (every body
  pre-encoded, JSON and remote write), ``looped_json`` (bodies for a load of any length).
- ``store``: the metric store's backlog — ``store_state`` (``GET /v1/metrics/store``),
  ``wait_drained`` (write log empty, chunks sealed), ``monitor`` (sampled every second in a
  thread) — and ``table_sizes`` (chunks, rollups, series, write log).
- Shared data: ``user_import`` (users CSV and its import), ``flag_data`` (flags and config
  keys), ``bulk`` (concurrent ``POST /v1/metrics/bulk``).
"""
