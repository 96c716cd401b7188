"""Test-only launch helpers: a streaming replica of the session's PostgreSQL and a three-master
Redis Cluster, on top of the same launcher ``hearth serve`` uses. ``hearth`` itself ships
neither: the replica and the cluster are the user's own (HEARTH_DATABASE_READ_URL, a cluster
URL in HEARTH_REDIS_URL); the tests make real ones to prove those settings work."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

from hearth_core.localstack import PG_USER, LocalStack, LocalStackError, find_pg_bin


class TestStack(LocalStack):
    """The launcher, plus what only the tests start; ``stop`` stops those too."""

    __test__ = False  # not a pytest test class

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._replica_dir: Path | None = None
        self._cluster_procs: list[subprocess.Popen[bytes]] = []

    def _stop_steps(self) -> list[Callable[[], None]]:
        return [self.stop_redis_cluster, self.stop_redis, self.stop_replica, self.stop_postgres]

    def start_replica(self, port: int) -> str:
        """A streaming replica of the embedded PostgreSQL on ``port``; returns its URL base
        (``postgresql://user:pw@host:port``, no database). Made by pg_basebackup on first use."""
        rdir = self.data_dir / "pg-replica"
        if not (rdir / "PG_VERSION").exists():
            self.log(f"making a streaming replica in {rdir}")
            rdir.mkdir(mode=0o700, exist_ok=True)
            self._chown_pg(rdir)
            env = {**os.environ, "PGPASSWORD": self._pg_password()}
            res = subprocess.run(
                self._pg_cmd(
                    find_pg_bin("pg_basebackup"),
                    "-h",
                    self.host,
                    "-p",
                    str(self.pg_port),
                    "-U",
                    PG_USER,
                    "-D",
                    str(rdir),
                    "-R",
                    "-X",
                    "stream",
                    "--checkpoint=fast",
                ),
                capture_output=True,
                env=env,
                check=False,
                stdin=subprocess.DEVNULL,
            )
            if res.returncode != 0:
                raise LocalStackError(
                    f"pg_basebackup failed: {res.stderr.decode(errors='replace')}"
                )
        conf = rdir / "hearth.conf"
        conf.write_text(
            (self.pg_dir / "hearth.conf")
            .read_text()
            .replace(f"port = {self.pg_port}", f"port = {port}")
            .replace(
                f"unix_socket_directories = '{self.pg_dir}'", f"unix_socket_directories = '{rdir}'"
            )
            + "hot_standby = on\n"
        )
        self._chown_pg(conf)
        self._pg_ctl_start(rdir, "pg_ctl start (replica)")
        self._replica_dir = rdir
        pw = quote(self._pg_password(), safe="")
        return f"postgresql://{PG_USER}:{pw}@{self.host}:{port}"

    def stop_replica(self) -> None:
        rdir = self._replica_dir
        if rdir is None:
            return
        self._replica_dir = None
        self._run(
            self._pg_cmd(
                find_pg_bin("pg_ctl"), "stop", "-w", "-t", "60", "-m", "fast", "-D", str(rdir)
            ),
            "pg_ctl stop (replica)",
        )

    def start_redis_cluster(self, ports: list[int]) -> str:
        """A Redis Cluster of ``len(ports)`` masters (no replicas); returns a node's URL."""
        server = shutil.which("redis-server")
        cli = shutil.which("redis-cli")
        if server is None or cli is None:
            raise LocalStackError("redis-server and redis-cli are needed for a cluster")
        pw = self._redis_password()
        procs = []
        for port in ports:
            d = self.data_dir / "redis-cluster" / str(port)
            shutil.rmtree(d, ignore_errors=True)
            d.mkdir(parents=True)
            conf = d / "redis.conf"
            fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(
                    "\n".join(
                        [
                            f"bind {self.host}",
                            f"port {port}",
                            "cluster-enabled yes",
                            f'cluster-config-file "{d / "nodes.conf"}"',
                            "cluster-node-timeout 2000",
                            f'dir "{d}"',
                            "daemonize no",
                            f'requirepass "{pw}"',
                            f'masterauth "{pw}"',
                            'save ""',
                            "appendonly no",
                            f'logfile "{d / "redis.log"}"',
                        ]
                    )
                    + "\n"
                )
            procs.append(
                subprocess.Popen(
                    [server, str(conf)],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                )
            )
        self._cluster_procs = procs
        deadline = time.monotonic() + 30
        for port in ports:
            while not self._redis_ping(port):
                if time.monotonic() > deadline:
                    raise LocalStackError(f"cluster node {port} did not start")
                time.sleep(0.05)
        env = {**os.environ, "REDISCLI_AUTH": pw}  # not on the command line, where ps shows it
        self._run_env(
            [
                cli,
                "--cluster",
                "create",
                *[f"{self.host}:{p}" for p in ports],
                "--cluster-replicas",
                "0",
                "--cluster-yes",
            ],
            "redis-cli --cluster create",
            env,
        )
        while True:
            out = subprocess.run(
                [cli, "-h", self.host, "-p", str(ports[0]), "cluster", "info"],
                capture_output=True,
                env=env,
                check=False,
            ).stdout
            if b"cluster_state:ok" in out:
                break
            if time.monotonic() > deadline:
                raise LocalStackError("the Redis cluster did not reach state ok")
            time.sleep(0.1)
        return f"redis://:{quote(pw, safe='')}@{self.host}:{ports[0]}/0"

    def stop_redis_cluster(self) -> None:
        procs, self._cluster_procs = self._cluster_procs, []
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()

    def _run_env(self, cmd: list[str], what: str, env: dict[str, str]) -> None:
        res = subprocess.run(
            cmd, capture_output=True, check=False, stdin=subprocess.DEVNULL, env=env
        )
        if res.returncode != 0:
            detail = (res.stderr or res.stdout).decode(errors="replace").strip()
            raise LocalStackError(f"{what} failed ({res.returncode}): {detail}")
