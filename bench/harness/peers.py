"""The peers Hearth is compared with, each on free ports and data of its own: the time-series
stores Hearth's ingest is compared with (a private data dir, no scraping), Prometheus 2.42
(Debian's package, its remote-write receiver) and VictoriaMetrics v1.151.0 (built from the Go
module proxy into target/peers/bin); and the identity peer of bench/auth, Ory Hydra v2.3.0
(built from the Go module proxy into target/peers/bin by bench/peers/hydra/build.sh), on a
Hearth server's embedded PostgreSQL in a database of its own. ``make bench-peers``
(scripts/bench-peers.sh) installs them all.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import subprocess
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import orjson

from bench.harness.client import http
from bench.harness.log import BenchError, say
from bench.harness.paths import ROOT
from bench.harness.scrapes import NAMES, Dataset
from bench.harness.server import Server, free_port, stop_process, wait_http_ok

VM_BINARY = ROOT / "target" / "peers" / "bin" / "victoria-metrics"
VM_VERSION = "v1.151.0"
PROMETHEUS_SERIES = "2.42"
INSTALL = "run `make bench-peers` (scripts/bench-peers.sh) first"
HYDRA_BINARY = ROOT / "target" / "peers" / "bin" / "hydra"
HYDRA_VERSION = "v2.3.0"
HYDRA_BUILD_LOG = ROOT / "target" / "peers" / "hydra-build.log"  # bench/peers/hydra/build.sh's
HYDRA_DATABASE = "hydra"
# Hydra's PostgreSQL pool (pgx, via the DSN). With a pool smaller than the number of concurrent
# token requests Hydra stalls, logging "Could not ensure that signing keys ... exists": with its
# default pool at 16 connections (issue 21), with max_conns=40 at 64 (0.2 req/s instead of ~35
# here). So more than bench/auth's largest connection count; PostgreSQL allows 300.
HYDRA_MAX_CONNS = 128


@dataclass
class Peer:
    name: str
    version: str
    proc: subprocess.Popen[bytes]
    port: int
    data_dir: Path  # what the store keeps on disk: the whole of it is measured
    log_path: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        """Stop it (SIGTERM: it writes what it holds in memory to disk) and wait for the end."""
        stop_process(self.proc, self.name, timeout=60)

    def log_tail(self, n: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""


def disk_bytes(path: Path) -> int:
    """Bytes allocated on disk to the files under ``path`` (``du``: blocks, not lengths)."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(root, f)).st_blocks * 512
            except OSError:
                pass  # removed while we walked (a merge or compaction)
    return total


def _version(cmd: list[str]) -> str:
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    return (res.stdout + res.stderr).strip()


def prometheus_binary() -> tuple[Path, str]:
    path = shutil.which("prometheus") or "/usr/bin/prometheus"
    if not Path(path).exists():
        raise BenchError(f"prometheus is not installed: {INSTALL}")
    first = _version([path, "--version"]).splitlines()[0]
    # "prometheus, version 2.42.0+ds (branch: debian/sid, ...)"
    version = first.split("version", 1)[-1].split()[0] if "version" in first else first
    if not version.startswith(PROMETHEUS_SERIES + "."):
        raise BenchError(f"{path} is Prometheus {version}, not {PROMETHEUS_SERIES}: {INSTALL}")
    return Path(path), version


def victoria_binary() -> tuple[Path, str]:
    if not VM_BINARY.exists():
        raise BenchError(f"{VM_BINARY.relative_to(ROOT)} is missing: {INSTALL}")
    go = shutil.which("go") or "/usr/local/go/bin/go"
    info = _version([go, "version", "-m", str(VM_BINARY)]) if Path(go).exists() else ""
    if info and f"VictoriaMetrics\t{VM_VERSION}" not in info.replace(" ", "\t"):
        raise BenchError(f"{VM_BINARY.relative_to(ROOT)} is not {VM_VERSION}: {INSTALL}")
    return VM_BINARY, VM_VERSION


@contextmanager
def _peer(name: str, version: str, argv: list[str], ready: str, work: Path) -> Iterator[Peer]:
    """Run ``argv`` (holding {port} and {data}) and yield it once ``ready`` answers 200."""
    port = free_port()
    data = work / "data"
    data.mkdir()
    log_path = work / "stderr.log"
    argv = [a.format(port=port, data=data) for a in argv]
    say(f"starting {name} {version} on :{port}, data dir {data}")
    with open(log_path, "ab") as log_file:
        proc = subprocess.Popen(
            argv,
            cwd=work,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=log_file,
            start_new_session=True,
        )
    peer = Peer(name, version, proc, port, data, log_path)
    try:
        try:
            wait_http_ok(f"{peer.base}{ready}", proc, name, timeout=60)
        except BenchError as exc:
            raise BenchError(f"{exc}\n--- {name} log tail ---\n{peer.log_tail()}") from None
        yield peer
    finally:
        say(f"stopping {name}")
        stop_process(proc, name, timeout=60)


@contextmanager
def prometheus_server(
    *, out_of_order_window: str | None = None, flags: Sequence[str] = ()
) -> Iterator[Peer]:
    """Prometheus with its remote-write receiver (and the admin API, for a snapshot), no
    scrape configs, on a fresh data dir removed at the end. ``out_of_order_window`` (a
    Prometheus duration) sets ``storage.tsdb.out_of_order_time_window`` in its config:
    without it the TSDB takes a sample only up to an hour behind the newest it holds;
    ``flags`` are added to its command line."""
    binary, version = prometheus_binary()
    work = Path(tempfile.mkdtemp(prefix="bench-prometheus-"))
    try:
        config = "global: {}\nscrape_configs: []\n"
        if out_of_order_window:
            config += f"storage:\n  tsdb:\n    out_of_order_time_window: {out_of_order_window}\n"
        (work / "prometheus.yml").write_text(config)
        argv = [
            str(binary),
            f"--config.file={work / 'prometheus.yml'}",
            "--storage.tsdb.path={data}",
            "--web.listen-address=127.0.0.1:{port}",
            "--web.enable-remote-write-receiver",
            "--web.enable-admin-api",
            "--log.level=warn",
            *flags,
        ]
        with _peer("prometheus", version, argv, "/-/ready", work) as peer:
            yield peer
    finally:
        shutil.rmtree(work, ignore_errors=True)


@contextmanager
def victoria_server(*, flags: Sequence[str] = ()) -> Iterator[Peer]:
    """Single-node VictoriaMetrics on a fresh data dir removed at the end; no latency offset,
    so a query sees the samples as soon as they are flushed; ``flags`` added to its command
    line."""
    binary, version = victoria_binary()
    work = Path(tempfile.mkdtemp(prefix="bench-victoria-"))
    try:
        argv = [
            str(binary),
            "-storageDataPath={data}",
            "-httpListenAddr=127.0.0.1:{port}",
            "-retentionPeriod=1y",
            "-search.latencyOffset=0s",
            "-loggerLevel=WARN",
            *flags,
        ]
        with _peer("victoriametrics", version, argv, "/health", work) as peer:
            yield peer
    finally:
        shutil.rmtree(work, ignore_errors=True)


def victoria_flush(peer: Peer) -> None:
    """Make every sample VictoriaMetrics has acknowledged searchable (its in-memory buffers
    into in-memory parts; they reach the disk later, or at a graceful stop)."""
    status, body = http(f"{peer.base}/internal/force_flush", timeout=120)
    if status != 200:
        raise BenchError(f"victoriametrics force_flush: HTTP {status} {body[:200]!r}")


def prometheus_snapshot(peer: Peer) -> Path:
    """The head written as a persistent block (TSDB admin API), as compaction would:
    the snapshot's directory."""
    status, body = http(f"{peer.base}/api/v1/admin/tsdb/snapshot", data={}, timeout=300)
    if status != 200:
        raise BenchError(f"prometheus snapshot: HTTP {status} {body[:200]!r}")
    name = json.loads(body)["data"]["name"]
    return peer.data_dir / "snapshots" / name


def count_samples(
    base: str,
    data: Dataset,
    *,
    matchers: str = 'job="node"',
    auth: str | None = None,
    params: dict[str, str] | None = None,
    who: str = "",
) -> int:
    """Samples of ``data`` stored behind the Prometheus query API at ``base`` (``<base>/api/v1/
    query``: a peer, or Hearth's own API with ``auth`` and ``params`` such as its namespace):
    ``count_over_time`` over the whole load, per metric name (the function drops the name, and
    the names share their label sets), summed. ``matchers`` select the load's series."""
    span_s = (data.last_ms - data.t0_ms) // 1000 + 60
    total = 0
    for name in NAMES:
        query = urllib.parse.urlencode(
            {
                **(params or {}),
                "query": f"sum(count_over_time({name}{{{matchers}}}[{span_s}s]))",
                "time": f"{data.last_ms / 1000:.3f}",
            }
        )
        status, body = http(f"{base}/api/v1/query?{query}", auth=auth, timeout=300)
        if status != 200:
            raise BenchError(f"{who or base} count query: HTTP {status} {body[:300]!r}")
        result = orjson.loads(body)["data"]["result"]
        total += int(float(result[0]["value"][1])) if result else 0
    return total


# ---------------------------------------------------------------- Ory Hydra (bench/auth)
@dataclass
class Hydra:
    version: str
    proc: subprocess.Popen[bytes]
    public_port: int  # /oauth2/token
    admin_port: int  # /admin/oauth2/introspect, /admin/clients (no authentication of its own)
    log_path: Path

    @property
    def public(self) -> str:
        return f"http://127.0.0.1:{self.public_port}"

    @property
    def admin(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    def log_tail(self, n: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def create_client(self, name: str, scope: str) -> tuple[str, str]:
        """A confidential client_credentials client (client_secret_basic) by the admin API,
        ``POST /admin/clients``: (client_id, client_secret)."""
        secret = secrets.token_urlsafe(24)
        doc = {
            "client_name": name,
            "client_secret": secret,
            "grant_types": ["client_credentials"],
            "response_types": ["token"],
            "scope": scope,
            "token_endpoint_auth_method": "client_secret_basic",
        }
        req = urllib.request.Request(
            f"{self.admin}/admin/clients", data=json.dumps(doc).encode(), method="POST"
        )
        req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                status, body = resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            status, body = exc.code, exc.read()
        if status != 201:
            raise BenchError(f"Hydra POST /admin/clients: {status} {body[:500]!r}")
        return str(json.loads(body)["client_id"]), secret


def hydra_binary() -> tuple[Path, str]:
    """target/peers/bin/hydra and its version; a BenchError saying why when it is missing
    (with the end of the last build's log) or is another version."""
    if not HYDRA_BINARY.exists():
        why = f"Hydra not built: {INSTALL}"
        try:
            tail = HYDRA_BUILD_LOG.read_text(errors="replace").strip().splitlines()[-3:]
        except OSError:
            tail = []
        if tail:
            why += f"; its last build ({HYDRA_BUILD_LOG.relative_to(ROOT)}) ended: " + " | ".join(
                tail
            )
        raise BenchError(why)
    out = _version([str(HYDRA_BINARY), "version"])
    version = next(
        (ln.split(":", 1)[1].strip() for ln in out.splitlines() if ln.startswith("Version:")), ""
    )
    if version != HYDRA_VERSION:
        raise BenchError(
            f"{HYDRA_BINARY.relative_to(ROOT)} is Hydra {version or '?'}, not {HYDRA_VERSION}: "
            f"{INSTALL}"
        )
    return HYDRA_BINARY, version


async def _fresh_database(server: Server, name: str) -> None:
    conn = await asyncpg.connect(server.pg_url())
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


@contextmanager
def hydra_server(pg_of: Server, *, env: dict[str, str] | None = None) -> Iterator[Hydra]:
    """Ory Hydra on ``pg_of``'s PostgreSQL, in a fresh database ``hydra`` (its pool raised to
    HYDRA_MAX_CONNS), migrated by ``hydra migrate sql -e --yes``,
    then ``hydra serve all --dev`` (plain HTTP) on two free ports with JWT access tokens, a
    random system secret, logging at warn, telemetry off; ``env`` is added to its
    configuration (Hydra reads every key from the environment: ``OAUTH2_...``)."""
    binary, version = hydra_binary()
    asyncio.run(_fresh_database(pg_of, HYDRA_DATABASE))
    base_url = pg_of.pg_url().rsplit("/", 1)[0].replace("postgresql://", "postgres://", 1)
    public_port, admin_port = free_port(), free_port()
    work = Path(tempfile.mkdtemp(prefix="bench-hydra-"))
    log_path = work / "stderr.log"
    full = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(work),
        "DSN": f"{base_url}/{HYDRA_DATABASE}?sslmode=disable&max_conns={HYDRA_MAX_CONNS}",
        "SECRETS_SYSTEM": secrets.token_hex(32),
        "URLS_SELF_ISSUER": f"http://127.0.0.1:{public_port}/",
        "SERVE_PUBLIC_HOST": "127.0.0.1",
        "SERVE_PUBLIC_PORT": str(public_port),
        "SERVE_ADMIN_HOST": "127.0.0.1",
        "SERVE_ADMIN_PORT": str(admin_port),
        "STRATEGIES_ACCESS_TOKEN": "jwt",
        "LOG_LEVEL": "warn",
        "SQA_OPT_OUT": "true",
        **(env or {}),
    }
    try:
        say(f"migrating Hydra {version}'s database {HYDRA_DATABASE!r}")
        migrate_log = work / "migrate.log"
        with open(migrate_log, "ab") as log_file:
            res = subprocess.run(
                [str(binary), "migrate", "sql", "-e", "--yes"],
                env=full,
                cwd=work,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=log_file,
                timeout=300,
                check=False,
            )
        if res.returncode != 0:
            tail = migrate_log.read_text(errors="replace")[-2000:]
            raise BenchError(f"hydra migrate sql failed ({res.returncode}):\n{tail}")
        say(f"starting Hydra {version} (public :{public_port}, admin :{admin_port})")
        with open(log_path, "ab") as log_file:
            proc = subprocess.Popen(
                [str(binary), "serve", "all", "--dev", "--sqa-opt-out"],
                env=full,
                cwd=work,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=log_file,
                start_new_session=True,
            )
        peer = Hydra(version, proc, public_port, admin_port, log_path)
        try:
            try:
                wait_http_ok(f"{peer.admin}/health/ready", proc, "hydra", timeout=60)
                wait_http_ok(f"{peer.public}/health/ready", proc, "hydra", timeout=60)
            except BenchError as exc:
                raise BenchError(f"{exc}\n--- hydra log tail ---\n{peer.log_tail()}") from None
            say(f"Hydra ready (pid {proc.pid})")
            yield peer
        finally:
            say("stopping Hydra")
            stop_process(proc, "hydra", timeout=30)
    finally:
        shutil.rmtree(work, ignore_errors=True)
