"""Real `content-jobs serve` processes over one Postgres, for multi-replica tests."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO

import aiohttp

from service.dev.pgserver import free_port

ROOT = Path(__file__).resolve().parent.parent


async def wait_ready(
    url: str, timeout: float = 30, alive: Callable[[], None] | None = None
) -> None:
    """Poll `url`/readyz until it answers 200; `alive` may fail early if the server died."""
    async with aiohttp.ClientSession() as session, asyncio.timeout(timeout):
        while True:
            if alive is not None:
                alive()
            try:
                async with session.get(f"{url}/readyz") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.05)


class Replica:
    """One service process; its log goes to a file the test prints when it fails."""

    def __init__(self, name: str, role: str, env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.role = role
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = env
        self.log_path = log_dir / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self, *, migrate: bool = False) -> None:
        """Start (or start again, on the same port); `migrate`: as `serve` does by default."""
        if self._log is not None:
            self._log.close()
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "service", "serve", *([] if migrate else ["--no-migrate"]),
             "--host", "127.0.0.1", "--port", str(self.port), "--role", self.role],
            cwd=ROOT,
            env={**os.environ, **self.env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip

    async def wait_ready(self, timeout: float = 30) -> None:
        """Until /readyz says 200: database, schema and listener all there."""
        await wait_ready(self.url, timeout, alive=self._alive)

    def _alive(self) -> None:
        assert self.process is not None and self.process.poll() is None, self.logs()

    def signal(self, signum: int) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    async def wait_exit(self, timeout: float = 30) -> int:
        assert self.process is not None
        async with asyncio.timeout(timeout):
            while (code := self.process.poll()) is None:
                await asyncio.sleep(0.05)
        return code

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
        if self._log is not None:
            self._log.close()

    def logs(self) -> str:
        return f"--- {self.name} ---\n" + self.log_path.read_text(errors="replace")[-5000:]
