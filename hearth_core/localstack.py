"""The embedded default: a private PostgreSQL and Redis started from the system binaries.

Both listen on loopback only, with generated passwords kept in the data dir (mode 0600).
PostgreSQL refuses to run as root, so when we are root its files belong to the ``postgres``
system user (created by Debian's package) and every PostgreSQL binary runs as that user.
Data survives a stop: the next start finds the cluster and the Redis append-only file and
reuses them.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

PG_USER = "hearth"
PG_DATABASE = "hearth"
PG_SYSTEM_USER = "postgres"


class LocalStackError(RuntimeError):
    """The embedded PostgreSQL or Redis could not be started or stopped."""


@dataclass(frozen=True)
class Services:
    database_url: str
    redis_url: str


def _say(msg: str) -> None:
    print(f"[hearth] {msg}", file=sys.stderr, flush=True)


def find_pg_bin(name: str) -> str:
    """Locate a PostgreSQL server binary: PATH first, then Debian's versioned directories."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(
        glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
        reverse=True,
    )
    if not candidates:
        raise LocalStackError(
            f"PostgreSQL binary {name!r} not found; install the 'postgresql' package "
            "or set HEARTH_DATABASE_URL"
        )
    return candidates[0]


def _port_open(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


def _read_or_create_secret(path: Path) -> str:
    if path.exists():
        return path.read_text().strip()
    value = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value)
    return value


class LocalStack:
    """Starts, reuses and stops the embedded PostgreSQL and Redis under ``data_dir``."""

    def __init__(
        self,
        data_dir: Path,
        *,
        pg_port: int,
        redis_port: int,
        host: str = "127.0.0.1",
        durable: bool = True,
        log: Callable[[str], None] = _say,
    ) -> None:
        self.data_dir = data_dir.resolve()
        self.pg_dir = self.data_dir / "pg"
        self.redis_dir = self.data_dir / "redis"
        self.pg_port = pg_port
        self.redis_port = redis_port
        self.host = host
        self.durable = durable
        self.log = log
        self._redis_proc: subprocess.Popen[bytes] | None = None
        self._pg_started = False
        self._as_postgres = os.geteuid() == 0

    # ---------------------------------------------------------------- public
    @property
    def services(self) -> Services:
        return Services(database_url=self.database_url, redis_url=self.redis_url)

    @property
    def database_url(self) -> str:
        pw = quote(self._pg_password(), safe="")
        return f"postgresql://{PG_USER}:{pw}@{self.host}:{self.pg_port}/{PG_DATABASE}"

    @property
    def redis_url(self) -> str:
        pw = quote(self._redis_password(), safe="")
        return f"redis://:{pw}@{self.host}:{self.redis_port}/0"

    def start(
        self, *, postgres: bool = True, redis: bool = True, adopt_running: bool = True
    ) -> Services:
        """Start what is asked for. A PostgreSQL already running on the data dir is used; with
        ``adopt_running`` (``hearth serve``) it is also stopped at the end, otherwise (an admin
        command beside a running server) it is left running."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # The postgres user must be able to traverse to its data directory.
        if self._as_postgres:
            self.data_dir.chmod(0o755)
        if postgres:
            self.start_postgres(adopt_running=adopt_running)
        try:
            if redis:
                self.start_redis(adopt_running=adopt_running)
        except BaseException:
            self.stop_postgres()
            raise
        return self.services

    def stop(self) -> None:
        errors: list[str] = []
        for step in self._stop_steps():
            try:
                step()
            except LocalStackError as exc:
                errors.append(str(exc))
        if errors:
            raise LocalStackError("; ".join(errors))

    def _stop_steps(self) -> list[Callable[[], None]]:
        return [self.stop_redis, self.stop_postgres]

    def __enter__(self) -> LocalStack:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------ postgresql
    def _pg_password(self) -> str:
        return _read_or_create_secret(self.data_dir / "pg.password")

    def _pg_cmd(self, *args: str) -> list[str]:
        cmd = list(args)
        if self._as_postgres:
            # runuser keeps our environment minimal and drops root for the server.
            return ["runuser", "-u", PG_SYSTEM_USER, "--", *cmd]
        return cmd

    def _chown_pg(self, path: Path) -> None:
        if self._as_postgres:
            pw = pwd.getpwnam(PG_SYSTEM_USER)
            os.chown(path, pw.pw_uid, pw.pw_gid)

    def _initdb(self) -> None:
        if self._as_postgres:
            try:
                pwd.getpwnam(PG_SYSTEM_USER)
            except KeyError:
                raise LocalStackError(
                    "running as root but there is no 'postgres' system user; install the "
                    "'postgresql' package"
                ) from None
        self.log(f"initialising PostgreSQL cluster in {self.pg_dir}")
        self.pg_dir.mkdir(mode=0o700)
        self._chown_pg(self.pg_dir)
        pwfile = self.data_dir / ".pg.pwfile"
        fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(self._pg_password())
        self._chown_pg(pwfile)
        try:
            self._run(
                self._pg_cmd(
                    find_pg_bin("initdb"),
                    "-D",
                    str(self.pg_dir),
                    "-U",
                    PG_USER,
                    "--auth=scram-sha-256",
                    f"--pwfile={pwfile}",
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                ),
                "initdb",
            )
        finally:
            pwfile.unlink(missing_ok=True)
        with open(self.pg_dir / "postgresql.conf", "a") as f:
            f.write("\ninclude_if_exists = 'hearth.conf'\n")

    def _write_pg_conf(self) -> None:
        lines = [
            f"listen_addresses = '{self.host}'",
            f"port = {self.pg_port}",
            f"unix_socket_directories = '{self.pg_dir}'",
            "max_connections = 300",
            "shared_buffers = 256MB",
            "work_mem = 16MB",
            "maintenance_work_mem = 256MB",
            "max_wal_size = 4GB",
            "checkpoint_timeout = 15min",
            "wal_level = replica",
            "max_wal_senders = 4",
            "logging_collector = off",
        ]
        if not self.durable:
            lines += ["fsync = off", "synchronous_commit = off", "full_page_writes = off"]
        conf = self.pg_dir / "hearth.conf"
        conf.write_text("\n".join(lines) + "\n")
        self._chown_pg(conf)

    def _pg_running(self) -> bool:
        if not (self.pg_dir / "postmaster.pid").exists():
            return False
        res = subprocess.run(
            self._pg_cmd(find_pg_bin("pg_ctl"), "status", "-D", str(self.pg_dir)),
            capture_output=True,
            check=False,
        )
        return res.returncode == 0

    def start_postgres(self, *, adopt_running: bool = True) -> None:
        if not (self.pg_dir / "PG_VERSION").exists():
            if self.pg_dir.exists() and any(self.pg_dir.iterdir()):
                raise LocalStackError(f"{self.pg_dir} exists but is not a PostgreSQL cluster")
            if self.pg_dir.exists():
                self.pg_dir.rmdir()
            self._initdb()
        self._write_pg_conf()
        if self._pg_running():
            # Left by a run that died (adopt it), or serving a running server (borrow it).
            self.log("PostgreSQL already running on this data dir; reusing it")
            self._pg_started = adopt_running
        else:
            if _port_open(self.host, self.pg_port):
                raise LocalStackError(
                    f"port {self.pg_port} is taken by another process; set HEARTH_PG_PORT"
                )
            self.log(f"starting PostgreSQL on {self.host}:{self.pg_port}")
            self._pg_ctl_start(self.pg_dir, "pg_ctl start")
            self._pg_started = True
        self._ensure_database()

    def _pg_ctl_start(self, pg_dir: Path, what: str) -> None:
        """Start the cluster in ``pg_dir`` and wait for it (its log's tail in the error)."""
        logfile = pg_dir / "server.log"
        self._run(
            self._pg_cmd(
                find_pg_bin("pg_ctl"),
                "start",
                "-w",
                "-t",
                "120",
                "-D",
                str(pg_dir),
                "-l",
                str(logfile),
            ),
            what,
            tail=logfile,
        )

    def _ensure_database(self) -> None:
        psql = shutil.which("psql") or find_pg_bin("psql")
        env = {**os.environ, "PGPASSWORD": self._pg_password()}
        base = [psql, "-h", self.host, "-p", str(self.pg_port), "-U", PG_USER, "-qAt"]
        out = subprocess.run(
            [
                *base,
                "-d",
                "postgres",
                "-c",
                f"SELECT 1 FROM pg_database WHERE datname='{PG_DATABASE}'",
            ],
            capture_output=True,
            env=env,
            check=False,
        )
        if out.returncode != 0:
            raise LocalStackError(f"cannot reach PostgreSQL: {out.stderr.decode().strip()}")
        if out.stdout.strip() != b"1":
            subprocess.run(
                [*base, "-d", "postgres", "-c", f'CREATE DATABASE "{PG_DATABASE}"'],
                env=env,
                check=True,
                capture_output=True,
            )

    def stop_postgres(self) -> None:
        if not self._pg_started:
            return
        self._pg_started = False
        if not self._pg_running():
            return
        self.log("stopping PostgreSQL")
        self._run(
            self._pg_cmd(
                find_pg_bin("pg_ctl"),
                "stop",
                "-w",
                "-t",
                "60",
                "-m",
                "fast",
                "-D",
                str(self.pg_dir),
            ),
            "pg_ctl stop",
        )

    # --------------------------------------------------------------- replica
    # ----------------------------------------------------------------- redis
    def _redis_password(self) -> str:
        return _read_or_create_secret(self.data_dir / "redis.password")

    def _write_redis_conf(self) -> Path:
        self.redis_dir.mkdir(parents=True, exist_ok=True)
        conf = self.data_dir / "redis.conf"
        lines = [
            f"bind {self.host}",
            f"port {self.redis_port}",
            "protected-mode yes",
            f'dir "{self.redis_dir}"',
            "daemonize no",
            f'requirepass "{self._redis_password()}"',
            "appendonly yes",
            f"appendfsync {'everysec' if self.durable else 'no'}",
            'save ""',
            f'logfile "{self.redis_dir / "redis.log"}"',
            f'pidfile "{self.redis_dir / "redis.pid"}"',
            "maxclients 10000",
        ]
        # The password lives in the file, not on the command line where `ps` would show it.
        fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("\n".join(lines) + "\n")
        return conf

    def _kill_stale_redis(self) -> None:
        pidfile = self.redis_dir / "redis.pid"
        if not pidfile.exists():
            return
        try:
            pid = int(pidfile.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (ValueError, OSError):
            pidfile.unlink(missing_ok=True)
            return
        if b"redis-server" in cmdline:
            self.log(f"stopping a stale Redis (pid {pid}) left by an earlier run")
            os.kill(pid, signal.SIGTERM)
            for _ in range(100):
                if not Path(f"/proc/{pid}").exists():
                    break
                time.sleep(0.05)
        pidfile.unlink(missing_ok=True)

    def start_redis(self, *, adopt_running: bool = True) -> None:
        """Start Redis. One already answering on this data dir's port and password is either
        borrowed (``adopt_running=False``: a command beside a running server leaves it alone)
        or, being left by a run that died, replaced by one this process owns and stops."""
        server = shutil.which("redis-server")
        if server is None:
            raise LocalStackError(
                "redis-server not found; install the 'redis-server' package or set HEARTH_REDIS_URL"
            )
        if not adopt_running and self._redis_ping():
            self.log("Redis already running on this data dir; borrowing it")
            return
        conf = self._write_redis_conf()
        if adopt_running:
            self._kill_stale_redis()
        if _port_open(self.host, self.redis_port):
            raise LocalStackError(
                f"port {self.redis_port} is taken by another process; set HEARTH_REDIS_PORT"
            )
        self.log(f"starting Redis on {self.host}:{self.redis_port}")
        # Own session: a Ctrl-C in the terminal reaches us, and we stop Redis in order.
        self._redis_proc = subprocess.Popen(
            [server, str(conf)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while not self._redis_ping():
            if self._redis_proc.poll() is not None:
                log = self.redis_dir / "redis.log"
                tail = log.read_text()[-2000:] if log.exists() else ""
                raise LocalStackError(f"redis-server exited at start:\n{tail}")
            if time.monotonic() > deadline:
                raise LocalStackError("redis-server did not answer PING within 30 s")
            time.sleep(0.05)

    def _redis_ping(self, port: int | None = None) -> bool:
        try:
            with socket.create_connection((self.host, port or self.redis_port), timeout=0.5) as s:
                pw = self._redis_password().encode()
                s.sendall(b"*2\r\n$4\r\nAUTH\r\n$%d\r\n%s\r\n*1\r\n$4\r\nPING\r\n" % (len(pw), pw))
                data = b""
                while data.count(b"\r\n") < 2:
                    chunk = s.recv(64)
                    if not chunk:
                        return False
                    data += chunk
                return data.endswith(b"+PONG\r\n")
        except OSError:
            return False

    def stop_redis(self) -> None:
        proc, self._redis_proc = self._redis_proc, None
        if proc is None or proc.poll() is not None:
            return
        self.log("stopping Redis")
        proc.terminate()  # SIGTERM: Redis fsyncs the AOF and exits cleanly
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise LocalStackError("redis-server did not stop within 30 s; killed") from None

    # ---------------------------------------------------------------- helper
    def _run(self, cmd: list[str], what: str, tail: Path | None = None) -> None:
        res = subprocess.run(cmd, capture_output=True, check=False, stdin=subprocess.DEVNULL)
        if res.returncode != 0:
            detail = (res.stderr or res.stdout).decode(errors="replace").strip()
            if tail is not None and tail.exists():
                detail += "\n" + tail.read_text(errors="replace")[-2000:]
            raise LocalStackError(f"{what} failed ({res.returncode}): {detail}")
