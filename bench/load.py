"""Throughput and tail latency over loopback: uvicorn serving each app, wrk generating load.

Both apps are served by the same command from the same venv (uvicorn CLI, one worker, the same
loop and HTTP implementation, uvicorn's access log off, stdout to a file), so the only
difference is the app. The servers stay up for the whole run and are measured in alternation,
which spreads the drift of a shared, noisy machine over both.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from bench.plan import Runtime

_WRK_SCRIPT = Path(__file__).with_name("wrk_report.lua")
_READY_TIMEOUT_S = 60.0
_STOP_TIMEOUT_S = 30.0


@dataclass
class Server:
    """A running uvicorn process serving one app, its port and the file its stdout goes to."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    stderr_path: Path
    log_file: IO[bytes]
    stderr_file: IO[bytes]


def process_cpu_seconds(pid: int) -> float | None:
    """CPU time (user + system, all threads) a process has used so far; None off Linux.

    Dividing the requests of a run by the server's CPU time gives requests per CPU-second: what
    the server does with a core to itself, however much of it the neighbours took meanwhile.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text("ascii")
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pinned(command: list[str], cpu: int | None) -> list[str]:
    """Prefix ``taskset`` so server and load generator never fight over the same core."""
    if cpu is None:
        return command
    return ["taskset", "--cpu-list", str(cpu), *command]


def free_port() -> int:
    """Ask the kernel for a free loopback port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def ensure_wrk() -> str:
    """Find wrk, installing the Debian package when we are allowed to; else say what to do."""
    found = shutil.which("wrk")
    if found:
        return found
    if shutil.which("apt-get"):
        for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "wrk"]):
            subprocess.run(command, check=False, capture_output=True)
        found = shutil.which("wrk")
        if found:
            return found
    raise RuntimeError(
        "wrk is needed for the load test: install it (Debian/Ubuntu: `apt-get install wrk`, "
        "macOS: `brew install wrk`) or run with --skip load"
    )


def start_server(name: str, target: str, runtime: Runtime) -> Server:
    """Start uvicorn on a free port; logs go to files in the workdir so they can be counted."""
    port = free_port()
    command = [str(runtime.python), "-m", "uvicorn", target, "--factory", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--loop", runtime.loop, "--http", runtime.http]
    command += ["--no-access-log", "--log-level", "warning", "--lifespan", "on"]
    log_path = runtime.workdir / f"{name}.load.stdout.log"
    stderr_path = runtime.workdir / f"{name}.load.stderr.log"
    log_file, stderr_file = log_path.open("wb"), stderr_path.open("wb")
    process = subprocess.Popen(
        pinned(command, runtime.server_cpu),
        cwd=runtime.workdir,
        env=runtime.env,
        stdout=log_file,
        stderr=stderr_file,
    )
    return Server(name, process, port, log_path, stderr_path, log_file, stderr_file)


def wait_ready(
    server: Server, path: str, expected: object, headers: tuple[tuple[str, str], ...] = ()
) -> None:
    """Poll until the server answers ``path`` with the expected JSON, or fail with its output."""
    request = urllib.request.Request(f"http://127.0.0.1:{server.port}{path}", headers=dict(headers))
    deadline = time.monotonic() + _READY_TIMEOUT_S
    last_error = "no answer"
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            break
        try:
            # The URL is http://127.0.0.1, built above: no file: or custom scheme can get in.
            with urllib.request.urlopen(request, timeout=2) as response:  # noqa: S310
                body = json.loads(response.read())
            if body == expected:
                return
            last_error = f"unexpected body {body!r}"
        except (OSError, urllib.error.URLError, ValueError) as error:
            last_error = str(error)
        time.sleep(0.1)
    stderr = server.stderr_path.read_text("utf-8", errors="replace")[-3000:]
    raise RuntimeError(f"{server.name} server never became ready ({last_error}):\n{stderr}")


def stop_server(server: Server) -> int:
    """Stop the server gracefully (so its lifespan flushes logs) and return its log line count."""
    server.process.send_signal(signal.SIGINT)
    try:
        server.process.wait(timeout=_STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()
    server.log_file.close()
    server.stderr_file.close()
    with server.log_path.open("rb") as lines:
        return sum(1 for _ in lines)


@dataclass(frozen=True)
class Wrk:
    """The load generator: one wrk thread on its own core, a fixed number of connections.

    One wrk thread is plenty for one Python worker and keeps wrk on a single core.
    """

    executable: str
    connections: int
    cpu: int | None

    def run(
        self, server: Server, path: str, seconds: int, headers: tuple[tuple[str, str], ...] = ()
    ) -> dict[str, Any]:
        """Run wrk once against ``server``; return its JSON summary plus requests per second."""
        command = [self.executable, "--threads", "1", "--connections", str(self.connections)]
        command += ["--duration", f"{seconds}s", "--timeout", "5s", "--script", str(_WRK_SCRIPT)]
        for name, value in headers:
            command += ["--header", f"{name}: {value}"]
        command.append(f"http://127.0.0.1:{server.port}{path}")
        cpu_before = process_cpu_seconds(server.process.pid)
        completed = subprocess.run(
            pinned(command, self.cpu), capture_output=True, text=True, check=False
        )
        cpu_after = process_cpu_seconds(server.process.pid)
        for line in completed.stdout.splitlines():
            if line.startswith("WRK_JSON "):
                summary: dict[str, Any] = json.loads(line.removeprefix("WRK_JSON "))
                summary["rps"] = summary["requests"] / (summary["duration_us"] / 1e6)
                summary["server_cpu_s"] = server_cpu = (
                    cpu_after - cpu_before
                    if cpu_before is not None and cpu_after is not None
                    else None
                )
                summary["rps_per_cpu"] = summary["requests"] / server_cpu if server_cpu else None
                return summary
        raise RuntimeError(f"wrk gave no summary:\n{completed.stdout}\n{completed.stderr}")
