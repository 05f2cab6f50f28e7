"""What a benchmark runs against: its own Postgres server and real service processes.

Like the multi-replica tests, every replica is a `python -m service serve`
process on loopback. The benchmark raises its own RLIMIT_NOFILE and every
child's (thousands of open streams need thousands of descriptors on both
ends), and worker replicas log in as a separate role so `pg_stat_activity`
tells the api replica's connections apart from theirs.
"""

from __future__ import annotations

import asyncio
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.parse
from pathlib import Path
from typing import IO, Any

import asyncpg

from service.api.auth import issue_token
from service.db import migrations
from service.db.pool import init_connection
from service.db.queries import parse
from service.dev.pgserver import LocalPostgres, free_port

ROOT = Path(__file__).resolve().parent.parent
QUERIES = parse((Path(__file__).parent / "queries.sql").read_text())
SECRET = "bench-secret-that-is-long-enough-for-hs256"
COMPANY = "bench"
WORKER_ROLE = "bench_worker"
#: descriptors for the benchmark, its load generators and the replicas
NOFILE = 65536
#: nginx workers in front of the api replicas (see LoadBalancer)
NGINX_WORKERS = 4


def raise_nofile(limit: int = NOFILE) -> None:
    """Raise RLIMIT_NOFILE (root may raise the hard limit too; others get what they can)."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, max(limit, hard)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(limit, hard), hard))


def token() -> str:
    return issue_token(SECRET, [COMPANY], sub="bench")


def with_user(dsn: str, user: str) -> str:
    parts = urllib.parse.urlsplit(dsn)
    netloc = f"{user}@{parts.hostname}:{parts.port}"
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def with_database(dsn: str, name: str) -> str:
    return urllib.parse.urlunsplit(urllib.parse.urlsplit(dsn)._replace(path=f"/{name}"))


class Replica:
    """One `content-jobs serve` process; its log goes to a file in the run's directory."""

    def __init__(
        self, name: str, role: str, env: dict[str, str], log_dir: Path, module: str = "service"
    ) -> None:
        self.name = name
        self.module = module
        self.role = role
        self.port = free_port()
        self.host = "127.0.0.1"
        self.url = f"http://{self.host}:{self.port}"
        self.env = env
        self.log_path = log_dir / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self) -> None:
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", self.module, "serve", "--no-migrate",
             "--host", self.host, "--port", str(self.port), "--role", self.role],
            cwd=ROOT,
            env={**os.environ, **self.env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            preexec_fn=raise_nofile,  # only raises a limit before exec
        )  # fmt: skip

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    async def wait_ready(self, timeout: float = 30) -> None:
        """Until /readyz answers 200: database, schema and listener all there."""
        request = f"GET /readyz HTTP/1.0\r\nHost: {self.host}\r\n\r\n".encode()
        async with asyncio.timeout(timeout):
            while True:
                assert self.process is not None and self.process.poll() is None, self.logs()
                try:
                    reader, writer = await asyncio.open_connection(self.host, self.port)
                    writer.write(request)
                    status = await reader.readline()
                    writer.close()
                    if b" 200 " in status:
                        return
                except OSError:
                    pass
                await asyncio.sleep(0.05)

    def rss_bytes(self) -> int:
        """Resident memory from /proc, as the kernel counts it."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS")  # pragma: no cover

    def cpu_seconds(self) -> float:
        """User + system CPU time so far, from /proc (a share of one core per second of run)."""
        return cpu_seconds(self.pid)

    def profile(self, seconds: float, out: Path) -> subprocess.Popen[bytes]:
        """Sample this replica with py-spy (bench extra) for `seconds`: stacks to `out`."""
        py_spy = str(Path(sys.executable).parent / "py-spy")
        return subprocess.Popen(
            [py_spy, "record", "--pid", str(self.pid), "--duration", str(round(seconds)),
             "--rate", "200", "--format", "raw", "--output", str(out), "--nonblocking"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def logs(self) -> str:
        return f"--- {self.name} ---\n" + self.log_path.read_text(errors="replace")[-5000:]


class Cluster:
    """A Postgres server of the benchmark's own, and the replicas started on it."""

    def __init__(self) -> None:
        raise_nofile()
        self.pg = LocalPostgres.temporary(fast=False)
        self.log_dir = Path(tempfile.mkdtemp(prefix="content-jobs-bench-"))
        self.replicas: list[Replica] = []
        self._conn: asyncpg.Connection[Any] | None = None
        self._count = 0

    @property
    def dsn(self) -> str:
        return self.pg.dsn

    async def start(self) -> None:
        self.pg.start()
        migrations.apply(self.dsn)
        conn: asyncpg.Connection[Any] = await asyncpg.connect(self.dsn)
        await init_connection(conn)
        self._conn = conn
        await conn.execute(QUERIES["create_role"])

    def db(self) -> asyncpg.Connection[Any]:
        assert self._conn is not None, "connect() first"
        return self._conn

    def postgres_cpu_seconds(self) -> float:
        """CPU time so far of the postmaster and its children (backends, walwriter,
        checkpointer...): what the server spent, whoever's statements it ran."""
        postmaster = self.pg.running_pid()
        assert postmaster is not None, "the server runs"
        total = 0.0
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                parent = int((entry / "stat").read_text().rpartition(")")[2].split()[1])
                if int(entry.name) == postmaster or parent == postmaster:
                    total += cpu_seconds(int(entry.name))
            except (OSError, ValueError):
                continue  # it ended meanwhile
        return total

    async def replica(
        self,
        role: str,
        *,
        pool_size: int = 10,
        concurrency: int = 16,
        module: str = "service",
        **env: str,
    ) -> Replica:
        """Start a replica (`python -m <module> serve`) and wait until it is ready; worker
        replicas log in as WORKER_ROLE."""
        self._count += 1
        dsn = with_user(self.dsn, WORKER_ROLE) if role == "worker" else self.dsn
        replica = Replica(
            f"{role}-{self._count}",
            role,
            {
                "DATABASE_URL": dsn,
                "AUTH_JWT_SECRET": SECRET,
                "DB_POOL_SIZE": str(pool_size),
                "RUNNER_CONCURRENCY": str(concurrency),
                "LOG_LEVEL": "warning",
                "LOG_FORMAT": "json",
                **env,
            },
            self.log_dir,
            module,
        )
        self.replicas.append(replica)
        replica.start()
        await replica.wait_ready()
        return replica

    def stop_replicas(self) -> None:
        for replica in self.replicas:
            replica.stop()
        self.replicas.clear()

    def load_balancer(self, replicas: list[Replica]) -> LoadBalancer:
        """nginx with the repository's `deploy/nginx.conf` (only its port changed) in front of
        `replicas`: the deployment shape users run."""
        return LoadBalancer(replicas, self.log_dir / f"nginx-{self._count}")

    async def reset(self) -> None:
        await self.db().execute(QUERIES["reset"])
        await self.db().execute("CHECKPOINT")

    async def insert_jobs(
        self, count: int, job_type: str, inputs: list[dict[str, Any]]
    ) -> list[Any]:
        rows = await self.db().fetch(QUERIES["insert_jobs"], count, job_type, inputs)
        return [row["id"] for row in rows]

    async def machine(self) -> dict[str, Any]:
        rows = await self.db().fetch(QUERIES["settings"])
        settings = {r["name"]: f"{r['setting']}{_unit(r['unit'])}" for r in rows}
        return {
            "cores": os.cpu_count(),
            "memory_gib": round(_mem_total_kib() / 1024 / 1024, 1),
            "cpu": _cpu_model(),
            "kernel": platform.release(),
            "python": platform.python_version(),
            "postgres": settings.pop("server_version", "?"),
            "postgres_settings": settings,
        }

    async def close(self, *, keep_logs: bool = False) -> None:
        """Stop everything; the replicas' logs are kept only when asked (after a failure)."""
        self.stop_replicas()
        if self._conn is not None:
            await self._conn.close()
            self._conn = None
        self.pg.remove()
        if not keep_logs:
            shutil.rmtree(self.log_dir, ignore_errors=True)


class CpuMeter:
    """CPU spent from now on by some processes (workers, a server) and by Postgres (all its
    processes, the harness's statements included), per unit of work: where a job's or a
    request's time goes, for ours and for the peers alike."""

    def __init__(self, cluster: Cluster, pids: list[int]) -> None:
        self._cluster = cluster
        self._pids = pids
        self._processes = sum(cpu_seconds(pid) for pid in pids)
        self._postgres = cluster.postgres_cpu_seconds()

    def per(self, units: float) -> tuple[float, float]:
        """(the processes', Postgres's) CPU microseconds per unit since this meter began."""
        processes = sum(cpu_seconds(pid) for pid in self._pids) - self._processes
        postgres = self._cluster.postgres_cpu_seconds() - self._postgres
        per_unit = 1e6 / max(units, 1)
        return round(processes * per_unit, 1), round(postgres * per_unit, 1)


class LoadBalancer:
    def __init__(self, replicas: list[Replica], prefix: Path) -> None:
        self.host, self.port = "127.0.0.1", free_port()
        (prefix / "tmp").mkdir(parents=True)
        conf = (ROOT / "deploy" / "nginx.conf").read_text()
        assert "listen 8080;" in conf and "worker_processes auto;" in conf
        # where a process may not hold more than ~20,000 descriptors (this machine's hard
        # limit), two workers cannot carry 20,000 streams (40,000 connections): four can, with
        # `reuseport` so that the kernel spreads the connections evenly between them
        conf = conf.replace("listen 8080;", f"listen {self.host}:{self.port} reuseport;")
        conf = conf.replace("worker_processes auto;", f"worker_processes {NGINX_WORKERS};")
        (prefix / "nginx.conf").write_text(conf)
        servers = "".join(f"server {r.host}:{r.port};\n" for r in replicas)
        (prefix / "upstream.conf").write_text(servers)
        self._log = open(prefix / "nginx.log", "wb")  # noqa: SIM115 (closed in stop)
        self._process = subprocess.Popen(
            ["nginx", "-p", str(prefix), "-c", "nginx.conf"],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            preexec_fn=raise_nofile,  # only raises a limit before exec
        )

    async def wait_ready(self, timeout: float = 10) -> None:
        async with asyncio.timeout(timeout):
            while True:
                try:
                    _reader, writer = await asyncio.open_connection(self.host, self.port)
                except OSError:
                    await asyncio.sleep(0.05)
                    continue
                writer.close()
                return

    def cpu_seconds(self) -> float:
        """CPU time of its workers so far (the master only supervises)."""
        children = Path(f"/proc/{self._process.pid}/task/{self._process.pid}/children")
        return sum(cpu_seconds(int(pid)) for pid in children.read_text().split())

    def stop(self) -> None:
        self._process.terminate()
        self._process.wait()
        self._log.close()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _unit(unit: str | None) -> str:
    return f" ({unit})" if unit else ""


def _mem_total_kib() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1])
    return 0  # pragma: no cover


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.partition(":")[2].strip()
    return platform.processor() or "?"
