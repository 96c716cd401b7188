"""Profiles benchmark: bulk import rate of a 100 000-row CSV, then list / search / lookup /
create latency with those users in the table, beside a bare aiohttp hello-world measured in
the same run.

    .venv/bin/python bench/users/run.py [--rows 100000] [--duration 10] [--warmup 2]

Starts ``hearth serve`` (embedded PostgreSQL and Redis) on free ports in a fresh data dir the
same way ``bench/auth/run.py`` does (its helpers are imported, not copied), registers a
confidential client (``profile.read,profile.write,role.read``) and takes a client_credentials
token. Then:

1. generates a CSV of ``--rows`` users (no passwords) and POSTs it to ``/v1/users/import``
   (``mode=all_or_nothing``), streamed from disk with aiohttp, timed end to end, while the
   server's RSS is sampled every 0.2 s; imports the same file again with ``on_conflict=skip``;
   and imports a small CSV *with* passwords, whose rate is bound by argon2id hashing;
2. drives ``GET /v1/users`` (first page, ``q=`` prefix search, ``email=`` lookup) and
   ``POST /v1/users`` (a new email per request) with ``wrk -t1 -cN --latency``, and the
   hello-world at the same N.

Prints a table and writes ``RESULTS.md`` and ``users.png`` next to this file; progress goes to
stderr. Client and server share the machine's cores, so the numbers are a comparison, not a
capacity figure. Any non-2xx answer, socket error or wrong import result is flagged; the exit
code is then 1.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import datetime as dt
import json
import random
import sys
import tempfile
import threading
import time
import unicodedata
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import aiohttp

import bench.auth.run as auth_bench
from bench.auth.run import (
    BenchError,
    Request,
    Result,
    Server,
    basic,
    create_client,
    ensure_wrk,
    hearth_server,
    hello_server,
    http,
    machine_info,
    measure,
    say,
)
from bench.common import figure, pyplot, report_server_warnings, run_main, write_results

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CREATE_LUA = HERE / "wrk_create.lua"
RESULTS_MD = HERE / "RESULTS.md"
CHART = HERE / "users.png"

SCOPES = "profile.read,profile.write,role.read"
SEARCH_PREFIX = "ma"
PASSWORD_ROWS = 500
ENDPOINTS = ("hello", "list", "search", "email", "create")
LABELS = {
    "hello": "hello-world GET /",
    "list": "GET /v1/users?limit=50",
    "search": f"GET /v1/users?limit=50&q={SEARCH_PREFIX}",
    "email": "GET /v1/users?email=<existing>",
    "create": "POST /v1/users (new email each)",
}
SLOW_IMPORT = 2000.0  # users/s: below this the import is worth a profile

FIRST = (
    "Maria Mark Martin Matthew Mason Maya Max Madison Marco Mateo Marie Malik Amelia Olivia "
    "Liam Noah Emma Ava Sophia Isabella Lucas Ethan James Benjamin Charlotte Harper Evelyn "
    "Abigail Emily Elena Daniel Henry Jack Samuel Chloe Grace Zoe Nora Leo Hugo Ines Yuki "
    "Aarav Priya Chen Wei Fatima Omar Ahmed Sofia Lars Ingrid Pierre Camille Giulia Luca "
    "Kwame Amara Diego Lucia Tomas Anna"
).split()
LAST = (
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez "
    "Lopez Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson "
    "White Harris Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott "
    "Nguyen Hill Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts "
    "Müller Schmidt Dubois Rossi Kowalski Novak Tanaka Sato Kim Park Singh Patel Okafor Silva"
).split()
DEPTS = ("engineering", "sales", "support", "finance", "legal", "ops", "marketing", "hr")


# ---------------------------------------------------------------- data
@dataclass
class CsvFile:
    path: Path
    rows: int
    bytes: int
    sample_email: str  # one that exists once imported


def write_csv(path: Path, rows: int, *, passwords: bool, domain: str, seed: int) -> CsvFile:
    """Unique emails, realistic names, ~20 % admins, small JSON attributes."""
    rng = random.Random(seed)
    header = ["email", "display_name", "roles", "attributes"]
    if passwords:
        header.append("password")
    sample = ""
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(header)
        for i in range(rows):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            local = unicodedata.normalize("NFKD", f"{first}.{last}.{i}").encode("ascii", "ignore")
            email = f"{local.decode().lower()}@{domain}"
            attrs = {"dept": rng.choice(DEPTS), "n": rng.randrange(100_000)}
            row = [
                email,
                f"{first} {last}",
                "admin" if rng.random() < 0.2 else "",
                json.dumps(attrs, separators=(",", ":")),
            ]
            if passwords:
                row.append(f"pw-{rng.getrandbits(64):016x}-{i}")
            out.writerow(row)
            if i == rows // 2:
                sample = email
    return CsvFile(path, rows, path.stat().st_size, sample)


# ---------------------------------------------------------------- memory
def rss_kib(pid: int, field_name: str = "VmRSS") -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


@contextmanager
def rss_sampler(pid: int, every: float = 0.2) -> Iterator[list[int]]:
    """Samples VmRSS (KiB) of ``pid`` into the yielded list until the block ends."""
    samples: list[int] = []
    stop = threading.Event()

    def loop() -> None:
        while True:
            value = rss_kib(pid)
            if value is not None:
                samples.append(value)
            if stop.wait(every):
                return

    thread = threading.Thread(target=loop, name="rss-sampler", daemon=True)
    thread.start()
    try:
        yield samples
    finally:
        stop.set()
        thread.join()


# ---------------------------------------------------------------- import
@dataclass
class ImportRun:
    label: str
    rows: int
    csv_mb: float
    seconds: float
    status: int
    report: dict[str, Any]
    rss_before_mib: float
    rss_peak_mib: float
    problem: str = ""

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


async def _post_stream(
    url: str, stream: IO[bytes], token: str, params: dict[str, str]
) -> tuple[int, bytes, float]:
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=1800)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "text/csv"}
    async with aiohttp.ClientSession(timeout=timeout) as session:
        t0 = time.perf_counter()
        async with session.post(url, params=params, data=stream, headers=headers) as resp:
            body = await resp.read()
        return resp.status, body, time.perf_counter() - t0


def import_csv(
    server: Server, token: str, label: str, data: CsvFile, expect: dict[str, Any], **params: str
) -> ImportRun:
    query = {"mode": "all_or_nothing", **params}
    say(f"importing {label}: {data.rows:,} rows, {data.bytes / 1e6:.1f} MB, {query}")
    pid = server.proc.pid
    before = rss_kib(pid) or 0
    with data.path.open("rb") as stream, rss_sampler(pid) as samples:
        status, body, seconds = asyncio.run(
            _post_stream(f"{server.base}/v1/users/import", stream, token, query)
        )
    try:
        report = json.loads(body)
    except ValueError:
        report = {}
    run = ImportRun(
        label=label,
        rows=data.rows,
        csv_mb=data.bytes / 1e6,
        seconds=seconds,
        status=status,
        report={k: v for k, v in report.items() if k != "rows"},
        rss_before_mib=before / 1024,
        rss_peak_mib=max([before, *samples]) / 1024,
    )
    wrong = {k: report.get(k) for k, v in expect.items() if report.get(k) != v}
    if status != 200 or wrong:
        run.problem = f"HTTP {status}, expected {expect}, got {wrong or body[:300]!r}"
        say(f"!!! import {label}: {run.problem}")
    say(
        f"  {label}: {seconds:.2f} s, {run.rate:,.0f} users/s, "
        f"RSS {run.rss_before_mib:.0f} -> peak {run.rss_peak_mib:.0f} MiB"
    )
    return run


# ---------------------------------------------------------------- http
def bearer_token(server: Server, client: tuple[str, str]) -> str:
    """client_credentials; the server learns of a new client by NOTIFY, so retry briefly."""
    form, auth = {"grant_type": "client_credentials"}, basic(*client)
    for _ in range(40):
        status, body = http(f"{server.base}/oauth/token", data=form, auth=auth)
        if status == 200:
            return str(json.loads(body)["access_token"])
        time.sleep(0.25)
    raise BenchError(f"cannot obtain a token: {status} {body[:500]!r}")


def get_json(url: str, token: str) -> dict[str, Any]:
    status, body = http(url, auth=f"Bearer {token}")
    if status != 200:
        raise BenchError(f"GET {url}: {status} {body[:500]!r}")
    return dict(json.loads(body))


def post_json(url: str, token: str, doc: dict[str, Any]) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=json.dumps(doc).encode(), method="POST")
    req.add_header("Content-Type", "application/json")
    req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@contextmanager
def wrk_script(path: Path) -> Iterator[None]:
    """bench.auth.run.run_wrk reads its module's LUA; point it at another script for a while."""
    saved = auth_bench.LUA
    auth_bench.LUA = path
    try:
        yield
    finally:
        auth_bench.LUA = saved


def check_endpoints(server: Server, token: str, rows: int, sample_email: str) -> dict[str, int]:
    """Every measured request works and means what we say, before wrk hammers it."""
    base = f"{server.base}/v1/users"
    page = get_json(f"{base}?limit=50", token)
    if page["total"] < rows or len(page["items"]) != 50:
        raise BenchError(f"list: total {page['total']}, {len(page['items'])} items")
    found = get_json(f"{base}?limit=50&q={SEARCH_PREFIX}", token)
    if not found["items"] or not all(
        (u.get("display_name") or "").lower().startswith(SEARCH_PREFIX) for u in found["items"]
    ):
        raise BenchError(f"search q={SEARCH_PREFIX} returned unexpected items")
    one = get_json(f"{base}?{urllib.parse.urlencode({'email': sample_email})}", token)
    if one["total"] != 1 or one["items"][0]["email"] != sample_email:
        raise BenchError(f"email lookup of {sample_email}: {one}")
    status, body = post_json(
        base, token, {"email": "bench-check@example.test", "display_name": "Bench User"}
    )
    if status != 201:
        raise BenchError(f"create: {status} {body[:500]!r}")
    return {
        "total": page["total"],
        "search_total": found["total"],
        "page_created_at": len({u["created_at"] for u in page["items"]}),
    }


# ---------------------------------------------------------------- report
HEADER = ["endpoint", "conns", "req/s", "p50 ms", "p99 ms", "x hello", "errors"]


def table_rows(results: list[Result]) -> list[list[str]]:
    return [
        [
            LABELS[r.endpoint],
            str(r.connections),
            f"{r.rps:,.0f}",
            f"{r.p50_ms:.2f}",
            f"{r.p99_ms:.2f}",
            f"{r.ratio:.3f}" if r.ratio is not None else "—",
            f"{r.error_count} !!" if r.error_count else "0",
        ]
        for r in results
    ]


IMPORT_HEADER = ["import", "rows", "CSV MB", "seconds", "users/s", "RSS before", "RSS peak"]


def import_rows(runs: list[ImportRun]) -> list[list[str]]:
    return [
        [
            r.label + (" !! " + r.problem if r.problem else ""),
            f"{r.rows:,}",
            f"{r.csv_mb:.1f}",
            f"{r.seconds:.2f}",
            f"{r.rate:,.0f}",
            f"{r.rss_before_mib:.0f} MiB",
            f"{r.rss_peak_mib:.0f} MiB",
        ]
        for r in runs
    ]


def print_grid(header: list[str], rows: list[list[str]]) -> None:
    grid = [header, *rows]
    widths = [max(len(row[i]) for row in grid) for i in range(len(header))]
    for n, row in enumerate(grid):
        cells = [
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        print("  ".join(cells).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))


def md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|---" + "|--:" * (len(header) - 1) + "|"]
    return out + ["| " + " | ".join(row) + " |" for row in rows]


def write_markdown(
    results: list[Result],
    imports: list[ImportRun],
    info: dict[str, str],
    args: argparse.Namespace,
    when: str,
    facts: dict[str, Any],
    chart: bool,
) -> None:
    bad = [r for r in results if r.error_count] + [r for r in imports if r.problem]
    main_run, skip_run, pw_run = imports
    lines = ["# Profiles benchmark: import, list, search, lookup, create", ""]
    if bad:
        lines += [
            "> **⚠ THIS RUN HAD ERRORS** — non-2xx answers, socket errors or a wrong import "
            "result (see the tables); its numbers are not trustworthy.",
            "",
        ]
    lines += [
        f"Generated by `bench/users/run.py` on {when}.",
        "",
        f"- Machine: {info['cores']} cores ({info['cpu']}), {info['kernel']}; "
        f"Python {info['python']}, aiohttp {info['aiohttp']}, {info['wrk']}.",
        "- Server: one `hearth serve` process (`HEARTH_LOG_LEVEL=WARNING`) with its embedded "
        "PostgreSQL and Redis, in a fresh data dir. **The load generator, the server and its "
        "database share the same cores**, so req/s is also given as a ratio to a bare aiohttp "
        "hello-world (`bench/auth/hello.py`) measured in the same run at the same concurrency.",
        "",
        "## Import",
        "",
        "`POST /v1/users/import?mode=all_or_nothing` with `Content-Type: text/csv`, the file "
        "streamed from disk by aiohttp; time is end to end (upload, spooling, parsing, "
        "validation, encryption, COPY, commit, and the per-row JSON report). The CSV "
        "(`email,display_name,roles,attributes`) has unique emails, first+last names, ~20 % "
        'with role `admin` and attributes like `{"dept":"sales","n":123}`. RSS is the '
        "`hearth serve` process's `VmRSS`, sampled every 0.2 s during the request.",
        "",
        *md_table(IMPORT_HEADER, import_rows(imports)),
        "",
        f"- **{main_run.rows:,} rows imported at {main_run.rate:,.0f} users/s** "
        f"({main_run.seconds:.1f} s for {main_run.csv_mb:.1f} MB); answer "
        f"`{json.dumps(main_run.report)}`.",
        f"- Server RSS {main_run.rss_before_mib:.0f} MiB before, peak "
        f"{main_run.rss_peak_mib:.0f} MiB during the import (+"
        f"{main_run.rss_peak_mib - main_run.rss_before_mib:.0f} MiB); `VmHWM` (the process's "
        f"high-water mark) at the end of the run: {facts['hwm_mib']:.0f} MiB.",
        f"- Re-import of the same file with `on_conflict=skip` (every row found by its "
        f"blind index and skipped): {skip_run.rate:,.0f} rows/s; answer "
        f"`{json.dumps(skip_run.report)}`.",
        f"- {pw_run.rows} rows **with plaintext passwords** (argon2id, hashed in "
        f"{info['cores']} worker threads): {pw_run.rate:,.1f} users/s — the hashing bound; "
        f"{main_run.rows:,} such rows would take about "
        f"{main_run.rows / pw_run.rate / 60 if pw_run.rate else 0:.0f} min on this machine. "
        "Bulk loads with known passwords should carry `password_hash` instead.",
        "",
        "## Requests",
        "",
        f"With {facts['total']:,} users in the table. Each measurement: `wrk -t1 "
        f"-c{args.connections} -d{args.duration:g}s --latency` after a {args.warmup:g} s "
        "warm-up (closed loop), bearer token from client_credentials "
        f"(`{SCOPES}`).",
        "",
        "- list: first page, default sort (`created_at`), with the `total` count.",
        f"- search: display-name prefix `q={SEARCH_PREFIX}` through the HMAC prefix index "
        f"({facts['search_total']:,} matches; first page of 50).",
        "- email: exact lookup by the email's HMAC blind index (one match).",
        "- create: `POST /v1/users` `{email, display_name}`, a new email per request "
        "(`wrk_create.lua`), no password; each request writes the user and an audit row.",
        "",
        *md_table(HEADER, table_rows(results)),
        "",
        "`x hello` = req/s ÷ hello-world req/s at the same concurrency. Latencies are wrk's "
        "(per request, from send to full response). `errors` counts non-2xx answers and "
        "socket errors.",
        "",
        "## Notes",
        "",
        "- Every list request also counts its matches for `total` (`SELECT count(*)` with the "
        "same filter), so list and search cost grows with the number of matching users; the "
        "email lookup touches one row through the blind index.",
        f"- The 50 users of the first page (default sort `created_at`, ties broken by "
        f"`user_id`) carry {facts['page_created_at']} distinct `created_at` value(s): an "
        "`all_or_nothing` import is one transaction, and every row it writes gets that "
        "transaction's timestamp.",
        f"- create runs last; the table grows by about {facts['created']:,.0f} users during "
        "its measurement (more with the warm-up), which the read figures above do not see.",
        "- Import: the request body is spooled (to disk past 8 MiB) before the import starts, "
        "then parsed 1 000 rows at a time; the per-row report of the answer is part of the "
        "timed request.",
        "",
    ]
    if chart:
        lines += ["![latency and import rate](users.png)", ""]
    RESULTS_MD.write_text("\n".join(lines))


def write_chart(results: list[Result], imports: list[ImportRun]) -> bool:
    plt = pyplot()
    if plt is None:
        return False
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4.8), gridspec_kw={"width_ratios": [3, 2]})
    xs = range(len(results))
    width = 0.38
    ax1.bar([x - width / 2 for x in xs], [r.p50_ms for r in results], width, label="p50")
    ax1.bar([x + width / 2 for x in xs], [r.p99_ms for r in results], width, label="p99")
    for x, r in zip(xs, results, strict=True):
        ax1.annotate(f"{r.rps:,.0f}/s", (x, r.p99_ms), ha="left", va="bottom", fontsize=7)
    ax1.set_xticks(list(xs), [r.endpoint for r in results])
    ax1.set_ylabel("ms (log)")
    ax1.set_yscale("log")
    conns = results[0].connections if results else 0
    ax1.set_title(f"Latency at {conns} connections (label: req/s)")
    ax1.legend()
    names = [r.label.replace(", ", ",\n").replace(" (", "\n(") for r in imports]
    bars = ax2.bar(range(len(imports)), [r.rate for r in imports], color="#2ca02c")
    for bar, r in zip(bars, imports, strict=True):
        ax2.annotate(
            f"{r.rate:,.0f}",
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            ha="center",
            va="bottom",
            fontsize=8,
        )
    ax2.set_xticks(range(len(imports)), names, fontsize=8)
    ax2.set_yscale("log")
    ax2.set_ylabel("rows / s (log)")
    ax2.set_title("CSV import rate")
    fig.tight_layout()
    fig.savefig(CHART, dpi=110)
    plt.close(fig)
    return True


# ---------------------------------------------------------------- main
def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=100_000, help="rows of the big CSV")
    p.add_argument("--duration", type=float, default=10.0, help="seconds per measurement")
    p.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds before each")
    p.add_argument("--connections", type=int, default=16, help="wrk connections")
    return p.parse_args()


def main() -> int:
    args = parse_args()
    wrk = ensure_wrk()
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    results: list[Result] = []
    imports: list[ImportRun] = []
    with hearth_server() as server:
        say(f"creating a client ({SCOPES}) and taking a client_credentials token")
        client = create_client(server, "bench-users", SCOPES)
        token = bearer_token(server, client)

        tmp = Path(tempfile.mkdtemp(prefix="csv-", dir=server.data_dir))
        say(f"writing {args.rows:,}-row CSV and a {PASSWORD_ROWS}-row CSV with passwords")
        big = write_csv(tmp / "users.csv", args.rows, passwords=False, domain="example.com", seed=1)
        pw = write_csv(
            tmp / "with-passwords.csv", PASSWORD_ROWS, passwords=True, domain="pw.test", seed=2
        )
        ok = {"errors": 0, "committed": True}
        imports.append(import_csv(server, token, "new users", big, {"created": big.rows, **ok}))
        if imports[0].problem:
            raise BenchError(f"the import failed: {imports[0].problem}\n{server.log_tail()}")
        imports.append(
            import_csv(
                server,
                token,
                "same file, on_conflict=skip",
                big,
                {"skipped": big.rows, "created": 0, **ok},
                on_conflict="skip",
            )
        )
        imports.append(
            import_csv(server, token, "with passwords (argon2id)", pw, {"created": pw.rows, **ok})
        )
        facts: dict[str, Any] = {"hwm_mib": (rss_kib(server.proc.pid, "VmHWM") or 0) / 1024}

        token = bearer_token(server, client)  # fresh: a whole access-token TTL for wrk
        facts |= check_endpoints(server, token, big.rows, big.sample_email)
        say(f"{facts['total']:,} users in the table; list, search, lookup and create verified")
        auth = f"Bearer {token}"
        base = f"{server.base}/v1/users"
        email_q = urllib.parse.urlencode({"email": big.sample_email})
        with hello_server() as hello_url:
            requests = {
                "hello": Request(hello_url),
                "list": Request(f"{base}?limit=50", auth=auth),
                "search": Request(f"{base}?limit=50&q={SEARCH_PREFIX}", auth=auth),
                "email": Request(f"{base}?{email_q}", auth=auth),
                "create": Request(base, "POST", auth=auth),
            }
            for name in ENDPOINTS:
                with wrk_script(CREATE_LUA if name == "create" else auth_bench.LUA):
                    results.append(
                        measure(
                            wrk, name, requests[name], args.connections, args.duration, args.warmup
                        )
                    )
        facts["hwm_mib"] = (rss_kib(server.proc.pid, "VmHWM") or 0) / 1024
        log_tail = server.log_tail()

    facts["created"] = sum(r.requests for r in results if r.endpoint == "create")
    hello = next((r.rps for r in results if r.endpoint == "hello"), 0.0)
    for r in results:
        r.ratio = r.rps / hello if hello else None

    info = machine_info()
    sys.stderr.flush()
    print()
    print(
        f"Profiles benchmark — {info['cores']} cores ({info['cpu']}), {when}; "
        "client and servers share the cores"
    )
    print()
    print_grid(IMPORT_HEADER, import_rows(imports))
    print(f"server VmHWM (peak RSS since start) at the end: {facts['hwm_mib']:.0f} MiB")
    print()
    print(
        f"{facts['total']:,} users; wrk -t1 -c{args.connections}, {args.duration:g} s after "
        f"{args.warmup:g} s warm-up"
    )
    print_grid(HEADER, table_rows(results))
    chart = write_chart(results, imports)
    write_markdown(results, imports, info, args, when, facts, chart)
    ops = [r for r in results if r.endpoint != "hello"]
    sent = sum(r.requests for r in ops) + sum(r.rows for r in imports)
    failed = sum(r.error_count for r in ops) + sum(r.rows for r in imports if r.problem)
    write_results(
        HERE,
        [
            figure(
                f"user operations succeeded ({', '.join(r.endpoint for r in ops)} at "
                f"{args.connections} conns, and 3 imports)",
                round(100 * (1 - failed / sent), 4) if sent else None,
                "%",
                "> 99.9 %",
                bool(sent) and failed / sent < 0.001,
                headline="users",
                target_value=99.9,
                limit=f"hello-world {hello:,.0f} req/s",
                chart="users/users.png" if chart else None,
                detail=f"{failed:,} failed of {sent:,} (requests and imported rows); "
                + ", ".join(f"{r.endpoint} {r.rps:,.0f} req/s p99 {r.p99_ms:.1f} ms" for r in ops)
                + f"; import {imports[0].rate:,.0f} users/s",
            ),
            *(
                figure(
                    f"{LABELS[r.endpoint]} p99 @ {r.connections} conns",
                    round(r.p99_ms, 2),
                    "ms",
                    "—",
                    None,
                    detail=f"{r.rps:,.0f} req/s, {r.error_count} errors",
                )
                for r in ops
            ),
        ],
    )
    written = [RESULTS_MD] + ([CHART] if chart else [])
    print("\nwrote " + " and ".join(str(p.relative_to(ROOT)) for p in written))

    report_server_warnings(log_tail)
    slow = imports[0].rate < SLOW_IMPORT
    bad = [r for r in results if r.error_count]
    wrong = [r for r in imports if r.problem]
    if slow:
        say(f"!!! the import ran at {imports[0].rate:,.0f} users/s, under {SLOW_IMPORT:,.0f}")
    if bad or wrong:
        print("\n" + "!" * 72, file=sys.stderr)
        for r in bad:
            print(f"!!! ERRORS: {r.endpoint} @ {r.connections}: {r.errors}", file=sys.stderr)
        for i in wrong:
            print(f"!!! IMPORT: {i.label}: {i.problem}", file=sys.stderr)
        print("!!! this run is not trustworthy", file=sys.stderr)
        print("!" * 72, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    run_main(main)
