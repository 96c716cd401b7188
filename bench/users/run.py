"""Profiles benchmark: bulk import rate of a 100 000-row CSV, then list / search / lookup /
create latency with those users in the table, beside a bare aiohttp hello-world measured in
the same run.

    .venv/bin/python bench/users/run.py [--rows 100000] [--duration 10] [--warmup 2] [--rounds 3]

Starts ``hearth serve`` (bench.harness), registers a confidential client (``profile.read,profile.write,role.read``) and takes a client_credentials
token. Then:

1. generates a CSV of ``--rows`` users (no passwords) and POSTs it to ``/v1/users/import``
   (``mode=all_or_nothing``), streamed from disk with aiohttp, timed end to end, while the
   server's RSS is sampled every 0.2 s; imports the same file again with ``on_conflict=skip``;
   and imports a small CSV *with* passwords, whose rate is bound by argon2id hashing;
2. drives ``GET /v1/users`` (first page, ``q=`` prefix search, ``email=`` lookup) and
   ``POST /v1/users`` (a new email per request) with ``wrk -t1 -cN --latency`` (``--rounds`` rounds, the median reported with the
   min-max), and the hello-world at the same N.

Prints a table and writes ``RESULTS.md``, ``users.png`` and ``results.json`` next to this file; progress goes to
stderr. Client and server share the machine's cores, so the numbers are a comparison, not a
capacity figure. Any non-2xx answer, socket error or wrong import result is flagged; the exit
code is then 1.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import urllib.parse
from pathlib import Path
from typing import Any

from bench.harness.charts import pyplot
from bench.harness.client import bearer_token, create_client, get_json, post_json
from bench.harness.log import BenchError, run_main, say
from bench.harness.machine import machine_info, machine_line, noise
from bench.harness.results import figure, finish, write_markdown, write_results
from bench.harness.server import Server, hearth_server, hello_server
from bench.harness.tables import md_table, print_grid
from bench.harness.user_import import ImportRun, import_csv, rss_kib, write_csv
from bench.harness.wrk import Request, Result, error_lines, measure, wrk_version

HERE = Path(__file__).resolve().parent
CREATE_LUA = HERE / "wrk_create.lua"

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
            r.spread("rps", "{:,.0f}"),
            f"{r.p50_ms:.2f}",
            r.spread("p99_ms"),
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


def write_report(
    results: list[Result],
    imports: list[ImportRun],
    args: argparse.Namespace,
    facts: dict[str, Any],
    problems: list[str],
) -> None:
    main_run, skip_run, pw_run = imports
    info = machine_info()
    lines = [
        f"- Machine: {machine_line(info, wrk_version())}. At the start: {facts['noise_start']}; "
        f"at the end: {facts['noise_end']}.",
        "- Server: one `hearth serve` process (`HEARTH_LOG_LEVEL=WARNING`) with its embedded "
        "PostgreSQL and Redis, in a fresh data dir. **The load generator, the server and its "
        "database share the same cores**, so req/s is also given as a ratio to a bare aiohttp "
        "hello-world (`bench/harness/hello.py`) measured in the same run at the same concurrency.",
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
        f"-c{args.connections} -d{args.duration:g}s --latency`, {args.rounds} round(s) after a "
        f"{args.warmup:g} s warm-up (closed loop), bearer token from client_credentials "
        f"(`{SCOPES}`); req/s and p99 are the median of the rounds (min-max in brackets).",
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
        "![latency and import rate](users.png)",
    ]
    write_markdown(
        HERE, "Profiles benchmark: import, list, search, lookup, create", lines, problems
    )


def write_chart(results: list[Result], imports: list[ImportRun]) -> None:
    plt = pyplot()
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
    fig.savefig(HERE / "users.png", dpi=110)
    plt.close(fig)


# ---------------------------------------------------------------- main
def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=100_000, help="rows of the big CSV")
    p.add_argument("--duration", type=float, default=10.0, help="seconds per measurement")
    p.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds before each")
    p.add_argument("--rounds", type=int, default=3, help="rounds per measurement (median)")
    p.add_argument("--connections", type=int, default=16, help="wrk connections")
    return p.parse_args()


def main() -> int:
    args = parse_args()
    facts: dict[str, Any] = {"noise_start": noise()}
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
        facts["hwm_mib"] = (rss_kib(server.proc.pid, "VmHWM") or 0) / 1024

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
                "create": Request(base, "POST", auth=auth, script=CREATE_LUA),
            }
            for name in ENDPOINTS:
                results.append(
                    measure(
                        name,
                        requests[name],
                        args.connections,
                        args.duration,
                        args.warmup,
                        args.rounds,
                    )
                )
        facts["hwm_mib"] = (rss_kib(server.proc.pid, "VmHWM") or 0) / 1024
        log_tail = server.log_tail()

    facts["created"] = sum(r.requests for r in results if r.endpoint == "create")
    hello = next((r.rps for r in results if r.endpoint == "hello"), 0.0)
    for r in results:
        r.ratio = r.rps / hello if hello else None

    facts["noise_end"] = noise()
    problems = error_lines(results)
    problems += [f"import {i.label}: {i.problem}" for i in imports if i.problem]
    print_grid(IMPORT_HEADER, import_rows(imports))
    print(f"server VmHWM (peak RSS since start) at the end: {facts['hwm_mib']:.0f} MiB")
    print_grid(HEADER, table_rows(results))
    if imports[0].rate < SLOW_IMPORT:
        say(f"!!! the import ran at {imports[0].rate:,.0f} users/s, under {SLOW_IMPORT:,.0f}")
    write_chart(results, imports)
    write_report(results, imports, args, facts, problems)
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
                chart="users/users.png",
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
                    errors=r.error_count,
                    rounds=[round(v, 2) for v in r.values("p99_ms")],
                )
                for r in ops
            ),
        ],
    )
    return finish(problems, log_tail)


if __name__ == "__main__":
    run_main(main)
