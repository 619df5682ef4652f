"""A real ``celery worker`` subprocess: what the worker tests and the delivery benchmark
(``benchmarks/load/run.py deliver``) run their tasks on::

    worker = CeleryWorker("tests.support.celery_app", env, log_path, queue=QUEUE).start()
    ...
    worker.kill()  # SIGKILL: nothing acknowledged, no warm shutdown
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


class CeleryWorker:
    """One ``celery -A <app> worker`` process in its own process group, logging to a file.

    ``pool``/``concurrency`` are Celery's ``--pool``/``-c``; the worker takes one message
    at a time per process (``--prefetch-multiplier=1``) and skips the cluster chatter
    (heartbeat, gossip, mingle) that a single worker does not need."""

    def __init__(
        self,
        app: str,
        env: dict[str, str],
        log_path: Path,
        *,
        queue: str,
        pool: str = "threads",
        concurrency: int = 2,
        cwd: Path = ROOT,
    ) -> None:
        self.app, self.env, self.log_path, self.cwd = app, env, Path(log_path), cwd
        self.queue, self.pool, self.concurrency = queue, pool, concurrency
        self.name = f"notify-{uuid.uuid4().hex[:8]}@%h"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 30) -> CeleryWorker:
        cmd = [
            sys.executable, "-m", "celery", "-A", self.app, "worker",
            f"--pool={self.pool}", "-c", str(self.concurrency), "-Q", self.queue,
            "--without-heartbeat", "--without-gossip", "--without-mingle",
            "--prefetch-multiplier=1", "-n", self.name, "-l", "info",
        ]  # fmt: skip
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                cmd,
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while " ready." not in self.log():
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"the celery worker exited ({self.proc.returncode}):\n{self.log()}"
                )
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"the celery worker was not ready in {timeout}s:\n{self.log()}")
            time.sleep(0.05)
        return self

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def kill(self) -> None:
        """SIGKILL the whole process group: no warm shutdown, nothing acknowledged."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self, timeout: float = 10) -> None:
        """Warm shutdown (SIGTERM: running tasks finish); SIGKILL after ``timeout``."""
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
