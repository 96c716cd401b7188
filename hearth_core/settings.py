"""One frozen settings Struct, read from ``HEARTH_*`` environment variables and passed down."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import msgspec

ENV_PREFIX = "HEARTH_"


class Settings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Every knob of the service. Field ``foo_bar`` is read from ``HEARTH_FOO_BAR``."""

    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: str = ".hearth"
    workers: int = 1
    # The event loop each server process runs. uvloop by default; the standard library's loop
    # serves requests in arrival order when one process is saturated, where uvloop lets some
    # connections wait many turns (bench/auth/RESULTS.md, "the tail at 64 connections").
    event_loop: Literal["uvloop", "asyncio"] = "uvloop"
    # External services; when unset the embedded default (localstack) starts its own.
    database_url: str | None = None
    database_read_url: str | None = None
    redis_url: str | None = None
    redis_cluster: bool = False  # HEARTH_REDIS_URL names one node of a Redis Cluster
    # Ports of the embedded PostgreSQL / Redis (loopback only).
    pg_port: int = 15432
    redis_port: int = 16379
    # Embedded PostgreSQL durability: tests turn it off for speed, serving never does.
    pg_durable: bool = True
    db_pool_min: int = 2
    db_pool_max: int = 20
    bootstrap_admin_email: str | None = None
    bootstrap_admin_password: str | None = None
    # Base64 of 32 bytes, or "kid:base64,kid:base64" (first one encrypts). Else a key file.
    master_key: str | None = None
    master_key_file: str | None = None
    issuer: str | None = None
    # OAuth / OIDC
    audience: str = "hearth"
    access_token_ttl: int = 900
    refresh_token_ttl: int = 30 * 86400
    auth_code_ttl: int = 60
    refresh_reuse_grace: float = 5.0
    clock_leeway: int = 5
    # Metrics ingestion
    metrics_retention_days: int = 30
    metrics_batch_rows: int = (
        100_000  # a coalesced write-log transaction closes at this many points …
    )
    metrics_batch_delay_ms: float = 5.0  # … or after this long
    metrics_writers: int = 2  # concurrent write-log transactions per worker
    # Most write-log samples one compaction pass takes. A pass costs ~25 µs per touched window
    # plus ~0.4 µs per sample (bench/store/compact_pass.py): at 100k series 4M samples a pass
    # compact ~1M samples/s, 1.6x what 2M do, for ~150 MB more at the pass's peak (8M: +36% for
    # another ~200 MB).
    metrics_compact_samples: int = 4_000_000
    metrics_compact_interval_ms: float = 1000.0  # pause between passes once the log is drained
    metrics_seal_after_s: float = 300.0  # a chunk not written this long is re-encoded (pcodec)
    metrics_inflight_points: int = 2_000_000  # accepted but unwritten; beyond it: 503
    metrics_series_cache: int = 500_000  # hash -> series_id entries kept per worker
    metrics_max_body_bytes: int = 64 * 1024 * 1024
    # Remote write, OTLP and line protocol name no Hearth namespace: a series takes it from this
    # label (removed from its labels) if it has it, else from the URL's ?namespace=, else this.
    metrics_namespace_label: str = "hearth_namespace"
    metrics_default_namespace: str = "default"
    # The config-store environment holding the cardinality policy (key "metrics.cardinality").
    metrics_policy_environment: str = "default"
    # The Prometheus query API (/api/v1/query…). A query's `timeout` parameter may ask for less
    # time, never more (Prometheus's --query.timeout); an instant selector looks this far back
    # for a sample (--query.lookback-delta); a query loading more samples than this answers 422
    # (--query.max-samples), refused before fetching when the stored chunks already hold more;
    # one selector (or match[]) matching more series than this answers 422 (Prometheus has no
    # such bound: here it keeps one query from loading a whole namespace's label sets).
    promql_timeout_s: float = 120.0
    promql_lookback_s: float = 300.0
    promql_max_samples: int = 50_000_000
    promql_max_series: int = 200_000
    # The parser's time grows with the square of a long operator chain (a 5,000-term `1+1+…`
    # took ~0.5 s): longer query texts are refused (400) before parsing.
    promql_max_query_bytes: int = 16_384
    # Where metrics live: "postgres" (embedded, the default) or "remote" — a Prometheus-compatible
    # engine (Prometheus, VictoriaMetrics, Mimir, Thanos Receive, Cortex) taking remote write and
    # answering PromQL; Hearth stays its authenticated gateway (docs/scale-out.md).
    metrics_store: Literal["postgres", "remote"] = "postgres"
    # Remote write endpoint and Prometheus API base (…/api/v1/query is appended); either may
    # hold "{tenant}" (VictoriaMetrics cluster: http://vminsert:8480/insert/{tenant}/prometheus).
    metrics_remote_write_url: str | None = None
    metrics_remote_query_url: str | None = None
    # The backend's tenant: sent in this header (X-Scope-OrgID for Mimir/Cortex/Thanos) and/or put
    # in the URLs; a client's own tenant (hearth metrics tenant set) replaces the default.
    metrics_remote_tenant_header: str | None = None
    metrics_remote_tenant: str = "hearth"
    metrics_remote_bearer_token: str | None = None
    metrics_remote_basic_auth: str | None = None  # "user:password"
    metrics_remote_timeout_s: float = 30.0  # one request to the backend
    # A write is retried (5xx, 429, no answer) with backoff until this long after it arrived; then
    # the caller gets 503 and retries itself.
    metrics_remote_write_deadline_s: float = 20.0
    metrics_remote_queue_bytes: int = 256 * 1024 * 1024  # encoded bodies in flight; beyond: 503
    metrics_remote_connections: int = 32
    usage_flush_seconds: float = 10.0
    command_workers: int = 2  # command worker tasks per server process; 0: none
    log_level: str = "INFO"
    shutdown_timeout: float = 30.0
    max_body_bytes: int = 32 * 1024 * 1024
    max_import_bytes: int = 512 * 1024 * 1024
    max_import_rows: int = 1_000_000
    max_json_depth: int = 64
    # TLS: certificate and key (PEM); with a client CA every connection needs a client cert
    # signed by it (mTLS), and a cert whose CN is a client_id authenticates as that client.
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_client_ca: str | None = None
    # Exact origins allowed to call the API from a browser (comma-separated); none by default.
    cors_origins: str = ""

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir).resolve()

    @property
    def embedded(self) -> bool:
        return self.database_url is None or self.redis_url is None

    @property
    def public_base_url(self) -> str:
        scheme = "https" if self.tls_cert else "http"
        return self.issuer or f"{scheme}://{self.host}:{self.port}"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Build settings from ``HEARTH_*`` variables; ``overrides`` (not None) win."""
        env = os.environ if environ is None else environ
        raw: dict[str, Any] = {}
        names = set(cls.__struct_fields__)
        for key, value in env.items():
            if key.startswith(ENV_PREFIX):
                field = key[len(ENV_PREFIX) :].lower()
                if field in names and value != "":
                    raw[field] = value
        raw.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return msgspec.convert(raw, cls, strict=False)
        except msgspec.ValidationError as exc:
            raise SettingsError(_env_message(str(exc))) from None

    def replace(self, **changes: Any) -> Settings:
        return msgspec.structs.replace(self, **changes)


class SettingsError(ValueError):
    """A ``HEARTH_*`` variable holds a value of the wrong shape."""


def _env_message(msg: str) -> str:
    # msgspec says "... - at `$.port`"; name the environment variable instead.
    if " - at `$." in msg:
        text, _, path = msg.partition(" - at `$.")
        return f"{ENV_PREFIX}{path.rstrip('`').upper()}: {text}"
    return msg
