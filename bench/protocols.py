"""uvicorn's HTTP protocols compared, in requests per server CPU-second.

The app is `bench/apps/plain.py`'s `/health`; the protocols are h11, httptools and the rendered
service's limited httptools protocol (`server.py`).

Run from a rendered project's directory (package `my_service`), in its venv:
`uv run --no-sync python /path/to/template/bench/protocols.py`. A rough measure: a Python
asyncio client, 8 keep-alive connections, 4 alternating rounds of 3 s; not the wrk harness.
"""

import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]
PORTS = {"h11": 18111, "httptools": 18112, "limited": 18113}
REQUEST = b"GET /health HTTP/1.1\r\nHost: bench\r\n\r\n"
SERVE = """
import sys
import uvicorn
sys.path.insert(0, sys.argv[3])
from bench.apps.plain import create_app
from my_service.server import LimitedHttpToolsProtocol
http = {"h11": "h11", "httptools": "httptools", "limited": LimitedHttpToolsProtocol}[sys.argv[1]]
uvicorn.run(create_app(), port=int(sys.argv[2]), http=http, loop="uvloop", access_log=False,
            log_level="warning")
"""


def cpu_seconds(pid: int) -> float:
    """CPU seconds (user and system) the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def keep_asking(port: int, until: float, counted: list[int]) -> None:
    """Ask for `/health` on one kept-alive connection until `until`, counting the answers."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    while time.monotonic() < until:
        writer.write(REQUEST)
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        await reader.readexactly(length)
        counted[0] += 1
    writer.close()


async def load(port: int, seconds: float) -> int:
    """Load the server from 8 connections for `seconds`; return the requests answered."""
    counted = [0]
    until = time.monotonic() + seconds
    await asyncio.gather(*(keep_asking(port, until, counted) for _ in range(8)))
    return counted[0]


def main() -> None:
    """Serve the app with each protocol at once, load them in turn, print the ratios."""
    servers = {
        name: subprocess.Popen([sys.executable, "-c", SERVE, name, str(port), str(REPOSITORY)])
        for name, port in PORTS.items()
    }
    per_cpu_second: dict[str, list[float]] = {name: [] for name in PORTS}
    try:
        for port in PORTS.values():
            for _ in range(400):
                try:
                    socket.create_connection(("127.0.0.1", port)).close()
                    break
                except OSError:
                    time.sleep(0.05)
        for round_number in range(4):
            names = list(PORTS) if round_number % 2 == 0 else list(reversed(PORTS))
            for name in names:
                before = cpu_seconds(servers[name].pid)
                served = asyncio.run(load(PORTS[name], 3.0))
                per_cpu_second[name].append(served / (cpu_seconds(servers[name].pid) - before))
    finally:
        for server in servers.values():
            server.terminate()
            server.wait()
    medians = {name: statistics.median(values) for name, values in per_cpu_second.items()}
    for name, values in per_cpu_second.items():
        rounds = " ".join(f"{value:,.0f}" for value in values)
        ratio = medians[name] / medians["httptools"]
        print(f"{name:10} {rounds}  median {medians[name]:,.0f}  / httptools {ratio:.2f}")  # noqa: T201


if __name__ == "__main__":
    main()
