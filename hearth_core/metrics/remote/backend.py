"""The remote metrics backend: remote write acknowledged only on the backend's 2xx, PromQL and
metadata requests forwarded.

Writes. Each ingest request becomes one remote-write request (already encoded and compressed
by the native core). While it waits for the backend its bytes count against a bound
(``HEARTH_METRICS_REMOTE_QUEUE_BYTES``): past it a new write is refused at once (503, the
sender retries) instead of queueing without end. A 5xx, a 429 or no answer is retried with
exponential backoff (honouring Retry-After) until ``HEARTH_METRICS_REMOTE_WRITE_DEADLINE_S``
after the write arrived, then given up (503: nothing was acknowledged, the sender retries). Any
other 4xx is the data's fault — Prometheus answers 400 for an out-of-order sample — and is
passed back to the caller, never retried (it would fail the same way forever), as
Prometheus's own remote-write client does.

Tenancy. A URL may hold ``{tenant}`` (VictoriaMetrics cluster), and/or the tenant id is sent
in ``HEARTH_METRICS_REMOTE_TENANT_HEADER`` (``X-Scope-OrgID``: Mimir, Cortex, Thanos).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import random
import time
from urllib.parse import quote, urlsplit, urlunsplit

import aiohttp

from hearth_core.metrics.remote.counters import RemoteCounters
from hearth_core.metrics.service import RemoteState
from hearth_core.settings import Settings

log = logging.getLogger("hearth.metrics.remote")

REMOTE_WRITE_HEADERS = {
    "Content-Type": "application/x-protobuf",
    "Content-Encoding": "snappy",
    "X-Prometheus-Remote-Write-Version": "0.1.0",
}
FIRST_BACKOFF_S = 0.05
MAX_BACKOFF_S = 2.0
MAX_ERROR_TEXT = 1024  # of a backend's error answer, passed to the caller


class BackendRejected(Exception):
    """The backend refused the data (a 4xx but 429): the caller's answer, never retried."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class BackendUnavailable(Exception):
    """No acknowledgement: the backend is down, overloaded or slow past the deadline, or the
    queue is full. Nothing of the write is acknowledged; the caller retries."""


def _auth_header(settings: Settings) -> str | None:
    if settings.metrics_remote_bearer_token:
        return f"Bearer {settings.metrics_remote_bearer_token}"
    if settings.metrics_remote_basic_auth:
        return "Basic " + base64.b64encode(settings.metrics_remote_basic_auth.encode()).decode()
    return None


def _retry_after(resp: aiohttp.ClientResponse) -> float | None:
    raw = resp.headers.get("Retry-After")
    try:
        return max(0.0, float(raw)) if raw is not None else None
    except ValueError:
        return None


class RemoteBackend:
    def __init__(self, settings: Settings, counters: RemoteCounters) -> None:
        if not settings.metrics_remote_write_url or not settings.metrics_remote_query_url:
            raise ValueError(
                "HEARTH_METRICS_STORE=remote needs HEARTH_METRICS_REMOTE_WRITE_URL and "
                "HEARTH_METRICS_REMOTE_QUERY_URL"
            )
        self._write_url = settings.metrics_remote_write_url
        self._query_url = settings.metrics_remote_query_url.rstrip("/")
        self._tenant_header = settings.metrics_remote_tenant_header
        self._auth = _auth_header(settings)
        self._timeout = aiohttp.ClientTimeout(total=settings.metrics_remote_timeout_s)
        self._deadline = settings.metrics_remote_write_deadline_s
        self._max_queue = settings.metrics_remote_queue_bytes
        self._connections = settings.metrics_remote_connections
        self.default_tenant = settings.metrics_remote_tenant
        self.counters = counters
        self.queued_bytes = 0
        self.queued_requests = 0
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self._connections),
            timeout=self._timeout,
            auto_decompress=True,
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("RemoteBackend.start() was not awaited")
        return self._session

    def _headers(self, tenant: str) -> dict[str, str]:
        headers: dict[str, str] = {}
        if self._tenant_header:
            headers[self._tenant_header] = tenant
        if self._auth:
            headers["Authorization"] = self._auth
        return headers

    @staticmethod
    def _url(template: str, tenant: str) -> str:
        return template.replace("{tenant}", quote(tenant, safe=""))

    def state(self) -> RemoteState:
        parts = urlsplit(self._write_url)
        netloc = parts.netloc.rpartition("@")[2]  # never the credentials
        return RemoteState(
            write_url=urlunsplit(parts._replace(netloc=netloc, query="")),
            queue_bytes=self.queued_bytes,
            queue_requests=self.queued_requests,
            queue_limit_bytes=self._max_queue,
        )

    def write_url(self, tenant: str) -> str:
        return self._url(self._write_url, tenant)

    def api_url(self, tenant: str, path: str) -> str:
        """``path`` (``/api/v1/query``…) under the backend's Prometheus API base."""
        return self._url(self._query_url, tenant) + path

    # -- writes ------------------------------------------------------------------------------

    async def write(self, body: bytes, *, tenant: str, samples: int) -> None:
        """Send one encoded remote-write body; return once the backend acknowledged it.
        Raises ``BackendRejected`` (the backend's 4xx) or ``BackendUnavailable``."""
        size = len(body)
        if self.queued_bytes and self.queued_bytes + size > self._max_queue:
            raise BackendUnavailable(
                f"the remote-write queue is full ({self.queued_bytes} bytes waiting for the "
                "backend)"
            )
        self.queued_bytes += size
        self.queued_requests += 1
        self.counters.queue_bytes.inc(size)
        self.counters.queue_requests.inc()
        started = time.monotonic()
        try:
            await self._send(body, tenant, started + self._deadline)
        finally:
            self.queued_bytes -= size
            self.queued_requests -= 1
            self.counters.queue_bytes.dec(size)
            self.counters.queue_requests.dec()
        self.counters.writes.labels("ok").inc()
        self.counters.samples.inc(samples)
        self.counters.bytes.inc(size)
        self.counters.latency.observe(time.monotonic() - started)

    async def _send(self, body: bytes, tenant: str, deadline: float) -> None:
        url = self.write_url(tenant)
        headers = {**REMOTE_WRITE_HEADERS, **self._headers(tenant)}
        backoff = FIRST_BACKOFF_S
        attempt = 0
        while True:
            attempt += 1
            wait: float | None = None
            try:
                async with self.session.post(url, data=body, headers=headers) as resp:
                    if 200 <= resp.status < 300:
                        return
                    text = (await resp.content.read(MAX_ERROR_TEXT)).decode("utf-8", "replace")
                    if resp.status != 429 and 400 <= resp.status < 500:
                        self.counters.writes.labels("rejected").inc()
                        raise BackendRejected(resp.status, text.strip() or resp.reason or "")
                    why = f"the backend answered {resp.status}: {text.strip()[:200]}"
                    wait = _retry_after(resp)
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                why = f"no answer from the backend ({type(exc).__name__}: {exc})"
            left = deadline - time.monotonic()
            pause = min(wait if wait is not None else backoff, MAX_BACKOFF_S)
            pause *= random.uniform(0.8, 1.2)
            if left <= pause:
                self.counters.writes.labels("failed").inc()
                log.warning(
                    "remote write given up", extra={"attempts": attempt, "reason": why[:300]}
                )
                raise BackendUnavailable(f"{why}; gave up after {attempt} attempts")
            self.counters.writes.labels("retried").inc()
            await asyncio.sleep(pause)
            backoff = min(backoff * 2, MAX_BACKOFF_S)

    # -- reads -------------------------------------------------------------------------------

    async def api(
        self, path: str, params: list[tuple[str, str]], *, tenant: str, post: bool = True
    ) -> tuple[int, bytes]:
        """Send ``params`` to the backend's ``path``, form-encoded in a POST (Prometheus's API
        takes POST on the query, series and labels routes; a long query would not fit a URL)
        or in the query string: its status and body. Raises ``BackendUnavailable`` when it
        does not answer."""
        url = self.api_url(tenant, path)
        headers = self._headers(tenant)
        try:
            async with (
                self.session.post(url, data=params, headers=headers)
                if post
                else self.session.get(url, params=params, headers=headers)
            ) as resp:
                body = await resp.read()
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            self.counters.queries.labels("unavailable").inc()
            raise BackendUnavailable(
                f"the metrics backend did not answer ({type(exc).__name__})"
            ) from None
        self.counters.queries.labels("ok" if resp.status < 400 else "error").inc()
        return resp.status, body
