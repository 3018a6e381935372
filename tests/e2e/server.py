"""The real server in a subprocess on a free loopback port, as a user would start it."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    def __init__(
        self, artifact: Path, log_dir: Path, env: dict[str, str] | None = None, **settings: object
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_dir / f"server-{self.port}.log"
        extra = env
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(("SENTIMENT_", "PROMETHEUS_"))
        }
        # One torch thread: the test process and the server share two cores (see conftest).
        defaults = {"model": artifact, "port": self.port, "torch_threads": 1, "warmup_rounds": 1}
        for name, value in {**defaults, **settings}.items():
            env[f"SENTIMENT_{name.upper()}"] = str(value)
        self.env = {**env, **(extra or {})}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, wait_ready: bool = True, timeout: float = 60) -> ServerProcess:
        log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "service"],
            env=self.env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() ends its workers too
        )
        if wait_ready:
            try:
                self.wait_for(lambda r: r.status_code == 200, timeout)
            except BaseException:  # a caller that did not use `with` must not inherit it
                self.stop(signal.SIGKILL)
                raise
        return self

    def wait_for(self, condition, timeout: float = 60) -> httpx.Response:  # noqa: ANN001
        """The first /readyz response that meets `condition`."""
        return self._poll("/readyz", condition, timeout)

    def wait_for_health(self, condition, timeout: float = 60) -> httpx.Response:  # noqa: ANN001
        """The first /healthz response that meets `condition`."""
        return self._poll("/healthz", condition, timeout)

    def _poll(self, path: str, condition, timeout: float) -> httpx.Response:  # noqa: ANN001
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.logs()}")
            try:
                response = httpx.get(f"{self.url}{path}", timeout=2)
                if condition(response):
                    return response
            except httpx.TransportError:
                pass
            time.sleep(0.02)
        raise TimeoutError(f"server not ready in {timeout}s:\n{self.logs()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        """Send `sig` to the server and wait for it (SIGKILL after `timeout`); then end anything
        left in its process group, such as workers of a supervisor that was killed."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()
        finally:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def __enter__(self) -> ServerProcess:
        return self.start()  # which stops the process itself if it never becomes ready

    def __exit__(self, *exc: object) -> None:
        self.stop()
