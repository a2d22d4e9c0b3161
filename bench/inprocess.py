"""Per-request cost of an ASGI app, measured in-process (runs in the rendered project's venv).

Usage: ``python -m bench.inprocess --target pkg.main:create_app --path /health --out r.json``.

Two numbers per repeat, because they answer different questions:

* ``wall_us``: time on the request path, i.e. what one request costs the event loop;
* ``cpu_us``: CPU time of the whole process (all threads) per request, measured after the
  process has gone quiet again. A queued log pipeline moves work off the request path, to a
  writer thread or task; that work still costs CPU and so throughput, and this number counts it.

Repeats are reported separately so the caller can take the best (least disturbed by the
neighbours on a shared machine) and the median.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import importlib
import io
import json
import pstats
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from bench.asgi import ASGIApp, Lifespan, Request, load_factory

_QUIET_STEP_S = 0.05
_QUIET_CPU_S = 0.002
_SETTLE_LIMIT_S = 10.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Read the measurement plan; the orchestrator passes every value explicitly."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", required=True, help="module:factory returning an ASGI app")
    parser.add_argument("--path", default="/health")
    parser.add_argument(
        "--header", action="append", default=[], metavar="NAME:VALUE", help="repeatable"
    )
    parser.add_argument("--expect-status", type=int, default=200)
    parser.add_argument("--expect-json", default='{"status": "ok"}')
    parser.add_argument("--iterations", type=int, default=5000, help="requests per repeat")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=1000)
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    parser.add_argument("--profile", type=Path, help="write a cProfile summary of one repeat here")
    parser.add_argument("--out", type=Path, required=True, help="where to write the JSON result")
    return parser.parse_args(argv)


async def settle() -> None:
    """Wait until background work (log writer thread or task) has drained the queued lines.

    The process counts as quiet when a short idle sleep burns (almost) no CPU. Sleeping on the
    event loop lets both loop tasks and threads run.
    """
    deadline = time.perf_counter() + _SETTLE_LIMIT_S
    while time.perf_counter() < deadline:
        before = time.process_time()
        await asyncio.sleep(_QUIET_STEP_S)
        if time.process_time() - before < _QUIET_CPU_S:
            return


async def run_batch(app: ASGIApp, request: Request, count: int, expected_status: int) -> None:
    """Send ``count`` requests one after the other; any unexpected status aborts the benchmark."""
    for _ in range(count):
        status, _body = await request.send_to(app)
        if status != expected_status:
            raise RuntimeError(f"expected status {expected_status}, got {status}")


async def check_response(app: ASGIApp, request: Request, args: argparse.Namespace) -> None:
    """Refuse to measure an app that does not give the expected answer."""
    status, body = await request.send_to(app)
    expected = json.loads(args.expect_json)
    if status != args.expect_status or json.loads(body) != expected:
        raise RuntimeError(f"{args.path} answered {status} {body!r}, expected {expected}")


async def measure(app: ASGIApp, request: Request, args: argparse.Namespace) -> dict[str, Any]:
    """Warm up, then time each repeat (wall on the request path, CPU including drain)."""
    await check_response(app, request, args)
    await run_batch(app, request, args.warmup, args.expect_status)
    await settle()
    wall_us: list[float] = []
    cpu_us: list[float] = []
    for _ in range(args.repeats):
        cpu_start = time.process_time()
        wall_start = time.perf_counter()
        await run_batch(app, request, args.iterations, args.expect_status)
        wall_us.append((time.perf_counter() - wall_start) * 1e6 / args.iterations)
        await settle()
        cpu_us.append((time.process_time() - cpu_start) * 1e6 / args.iterations)
    if args.profile is not None:
        await profile_batch(app, request, args)
    return {"wall_us": wall_us, "cpu_us": cpu_us}


async def profile_batch(app: ASGIApp, request: Request, args: argparse.Namespace) -> None:
    """Profile one extra repeat (main thread only) and write the top functions as text."""
    profiler = cProfile.Profile()
    profiler.enable()
    await run_batch(app, request, args.iterations, args.expect_status)
    profiler.disable()
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text)
    stats.sort_stats("tottime").print_stats(25)
    stats.sort_stats("cumulative").print_stats(25)
    args.profile.write_text(text.getvalue(), encoding="utf-8")


def header_parts(item: str) -> tuple[str, str, str]:
    """Split ``Name: value`` at its first colon."""
    return item.partition(":")


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Create the app, run its lifespan around the measurement, and time startup and shutdown."""
    app = cast("ASGIApp", load_factory(args.target)())
    lifespan = Lifespan(app)
    started = time.perf_counter()
    await lifespan.startup()
    startup_ms = (time.perf_counter() - started) * 1e3
    headers = [(name.strip(), value.strip()) for name, _, value in map(header_parts, args.header)]
    request = Request(args.path, lifespan.state, headers)
    result = await measure(app, request, args)
    stopping = time.perf_counter()
    await lifespan.shutdown()
    result["lifespan_startup_ms"] = startup_ms
    result["lifespan_shutdown_ms"] = (time.perf_counter() - stopping) * 1e3
    result["requests"] = 1 + args.warmup + args.iterations * (args.repeats + bool(args.profile))
    result["loop"] = args.loop
    return result


def loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop]:
    """Use the same event loop implementation as the server in the load test."""
    if name == "uvloop":  # optional: present only with uvicorn's fast extras
        uvloop = importlib.import_module("uvloop")
        return cast("Callable[[], asyncio.AbstractEventLoop]", uvloop.new_event_loop)
    return asyncio.new_event_loop


def main(argv: list[str] | None = None) -> int:
    """Measure and write the JSON result to ``--out`` (stdout belongs to the app's logs)."""
    args = parse_args(argv)
    with asyncio.Runner(loop_factory=loop_factory(args.loop)) as runner:
        result = runner.run(run(args))
    args.out.write_text(json.dumps(result), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
