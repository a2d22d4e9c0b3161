"""What each middleware costs: the service with it, minus the service without it, in one process.

Removing a middleware from the real app, instead of adding it to the plain one, keeps everything
it depends on in place (settings, the logging set up by the lifespan, the other middleware), so
the measured cost is the cost inside the service. One app is created and its lifespan started
once; Starlette builds a middleware stack from ``user_middleware`` on demand, so each variant
(everything, everything but one middleware, for each, and none) is a stack built around the same
router, sharing the same state, logging pipeline and limiter.

All variants and the plain app run in one process, in rounds: each round sends one short batch
to each of them in alternating order, and the caller compares variants within each round.
Differences between processes (memory layout, a neighbour's burst during one process's life), and
between batches seconds apart, were larger than the costs being measured.

Usage: ``python -m bench.apps.ablation --service pkg.main:create_app --plain
bench.apps.plain:create_app --path /health --out result.json`` (see ``--help``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any, cast

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.types import Receive, Scope, Send

from bench.asgi import ASGIApp, Lifespan, Request, load_factory
from bench.inprocess import check_response, header_parts, loop_factory, run_batch, settle

ALL = "all"
NONE = "none"
PLAIN = "plain"


def middleware_name(entry: Middleware) -> str:
    """Name a middleware entry by its class, as the report shows it."""
    return str(getattr(entry.cls, "__name__", entry.cls))


def without(name: str) -> str:
    """Label of the variant that lacks one middleware."""
    return f"without {name}"


class Variant:
    """The app's router and handlers behind some of its middleware, called like the app itself."""

    def __init__(self, app: Starlette, middleware: list[Middleware]) -> None:
        """Build the stack now: Starlette would build it once, on the first request."""
        self._app = app
        original = app.user_middleware
        app.user_middleware = middleware
        try:
            self._stack = app.build_middleware_stack()
        finally:
            app.user_middleware = original

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Do what ``Starlette.__call__`` does before handing the request to the stack."""
        scope["app"] = self._app
        await self._stack(scope, receive, send)


def observers_of(entry: Middleware) -> list[Any]:
    """Return the request observers a middleware takes (the service's request pipeline)."""
    observers: list[Any] = list(cast("list[Any]", entry.kwargs.get("observers", [])))
    return observers


def variants(app: Starlette) -> dict[str, ASGIApp]:
    """Build every variant: everything on, each middleware or request observer left out, none.

    The request pipeline's observers are left out one at a time, the pipeline kept.
    """
    entries = list(app.user_middleware)
    built = {ALL: Variant(app, entries)}
    for entry in entries:
        built[without(middleware_name(entry))] = Variant(
            app, [other for other in entries if other is not entry]
        )
        observers = observers_of(entry)
        for observer in observers:
            kwargs: dict[str, Any] = {
                **entry.kwargs,
                "observers": [other for other in observers if other is not observer],
            }
            reduced = Middleware(entry.cls, *entry.args, **kwargs)
            built[without(type(observer).__name__)] = Variant(
                app, [reduced if other is entry else other for other in entries]
            )
    built[NONE] = Variant(app, [])
    return cast("dict[str, ASGIApp]", built)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Read the measurement plan; the orchestrator passes every value explicitly."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--service", required=True, help="the service's module:factory")
    parser.add_argument("--plain", required=True, help="the reference app's module:factory")
    parser.add_argument("--path", default="/health")
    parser.add_argument("--header", action="append", default=[], metavar="NAME:VALUE")
    parser.add_argument("--expect-status", type=int, default=200)
    parser.add_argument("--expect-json", default='{"status": "ok"}')
    parser.add_argument("--iterations", type=int, default=2000, help="requests per batch")
    parser.add_argument("--rounds", type=int, default=5, help="batches per variant")
    parser.add_argument("--warmup", type=int, default=500, help="requests per variant first")
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    parser.add_argument("--out", type=Path, required=True, help="where to write the result")
    return parser.parse_args(argv)


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Start both apps, then time batches of every variant in alternating rounds."""
    plain = cast("ASGIApp", load_factory(args.plain)())
    service = load_factory(args.service)()
    if not isinstance(service, Starlette):
        raise TypeError(f"{args.service} did not build a Starlette app")
    lifespans = [Lifespan(plain), Lifespan(cast("ASGIApp", service))]
    for lifespan in lifespans:
        await lifespan.startup()
    headers = [(name.strip(), value.strip()) for name, _, value in map(header_parts, args.header)]
    apps = {PLAIN: plain, **variants(service)}
    requests = {name: Request(args.path, lifespans[name != PLAIN].state, headers) for name in apps}
    for name, app in apps.items():
        await check_response(app, requests[name], args)
        await run_batch(app, requests[name], args.warmup, args.expect_status)
    await settle()
    cpu_us: dict[str, list[float]] = {name: [] for name in apps}
    order = list(apps)
    for round_index in range(args.rounds):
        for name in order if round_index % 2 == 0 else order[::-1]:
            started = time.process_time()
            await run_batch(apps[name], requests[name], args.iterations, args.expect_status)
            await settle()
            cpu_us[name].append((time.process_time() - started) * 1e6 / args.iterations)
    for lifespan in reversed(lifespans):
        await lifespan.shutdown()
    names = []
    for entry in service.user_middleware:
        names.append(middleware_name(entry))
        names.extend(type(observer).__name__ for observer in observers_of(entry))
    return {"middleware": names, "cpu_us": cpu_us}


def main(argv: list[str] | None = None) -> int:
    """Measure and write the JSON result to ``--out`` (stdout belongs to the app's logs)."""
    args = parse_args(argv)
    with asyncio.Runner(loop_factory=loop_factory(args.loop)) as runner:
        result = runner.run(measure(args))
    args.out.write_text(json.dumps(result), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
