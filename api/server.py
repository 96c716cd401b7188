"""Serving: one process, or N forked workers sharing the port through SO_REUSEPORT."""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
import os
import shutil
import signal
import sys
import time
import traceback

from aiohttp import web

from api.app import create_app
from hearth_core.security.certs import server_context
from hearth_core.settings import Settings

log = logging.getLogger("hearth.server")


def new_event_loop(settings: Settings) -> asyncio.AbstractEventLoop:
    """``HEARTH_EVENT_LOOP``: uvloop (imported only then) or the standard library's loop."""
    if settings.event_loop == "asyncio":
        return asyncio.new_event_loop()
    import uvloop

    return uvloop.new_event_loop()


def run_single(settings: Settings) -> None:
    """Serve until SIGINT/SIGTERM; in-flight requests get ``shutdown_timeout`` to finish."""
    ssl_context = None
    if settings.tls_cert and settings.tls_key:
        ssl_context = server_context(settings.tls_cert, settings.tls_key, settings.tls_client_ca)
    web.run_app(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        reuse_port=True,
        access_log=None,
        shutdown_timeout=settings.shutdown_timeout,
        handle_signals=True,
        print=None,
        loop=new_event_loop(settings),
        ssl_context=ssl_context,
    )


_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int) -> None:
    """A worker whose supervisor is killed (SIGKILL, OOM) gets SIGTERM and exits gracefully,
    instead of serving on, orphaned, from services the next start replaces (Linux prctl)."""
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:  # the supervisor died before prctl took effect
        os._exit(0)


def run_workers(settings: Settings) -> int:
    """Fork ``settings.workers`` servers; restart one that dies; forward SIGTERM/SIGINT."""
    prom_dir = settings.data_path / "prometheus"
    shutil.rmtree(prom_dir, ignore_errors=True)
    prom_dir.mkdir(parents=True)
    # prometheus-client's multi-process mode is switched on by this variable alone.
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(prom_dir)
    from prometheus_client import multiprocess

    children: dict[int, int] = {}
    stopping = False

    supervisor = os.getpid()

    def spawn(slot: int) -> None:
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                _die_with_parent(supervisor)
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                run_single(settings)
            except BaseException:
                traceback.print_exc()
                code = 1
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        children[pid] = slot

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for pid in list(children):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for slot in range(settings.workers):
        spawn(slot)
    failed = 0
    while children:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        slot = children.pop(pid, None)
        if slot is None:
            continue
        multiprocess.mark_process_dead(pid)
        code = os.waitstatus_to_exitcode(status)
        if stopping:
            failed |= code not in (0, -signal.SIGTERM)
            continue
        log.warning("worker exited; starting a new one", extra={"pid": pid, "exit": code})
        time.sleep(0.2)
        spawn(slot)
    return 1 if failed else 0
