"""Start and stop a Chroma server (`chroma run`) on a free loopback port, for the benchmark and the tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

from guide.errors import StoreUnavailableError


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def chroma_executable() -> Path:
    exe = Path(sys.executable).parent / "chroma"
    if not exe.exists():
        raise StoreUnavailableError(f"{exe} not found: chromadb's `chroma` command comes with `pip install -e .`.")
    return exe


class ChromaServer:
    """`chroma run --host 127.0.0.1` in its own process group; a context manager that waits for the heartbeat.

    pause()/resume() stop and continue the process (SIGSTOP/SIGCONT) to play a slow or hung server."""

    def __init__(self, path: Path, port: int | None = None, startup_timeout_s: float = 60.0) -> None:
        self.path = Path(path)
        self.port = port or free_port()
        self.startup_timeout_s = startup_timeout_s
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = self.path / f"chroma-server-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, n: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def start(self) -> "ChromaServer":
        import httpx

        self.path.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "ANONYMIZED_TELEMETRY": "False", "NO_COLOR": "1"}
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [str(chroma_executable()), "run", "--host", "127.0.0.1", "--port", str(self.port),
                 "--path", str(self.path / "data")],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
            )
        deadline = time.monotonic() + self.startup_timeout_s
        while True:
            if self.proc.poll() is not None:
                raise StoreUnavailableError(f"chroma run exited with {self.proc.returncode}: {self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/api/v2/heartbeat", timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise StoreUnavailableError(
                    f"Chroma server at {self.url} did not answer within {self.startup_timeout_s:.0f} s: {self.log_tail()}")
            time.sleep(0.25)

    def pause(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.resume()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)

    def __enter__(self) -> "ChromaServer":
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
