"""Cold start of one app, measured in a fresh interpreter (runs in the rendered project's venv).

Usage: ``python -m bench.coldstart --target pkg.main:create_app --out r.json``.

It times, inside the process, the import of the app's module, the factory call and the lifespan
startup separately: import time is dominated by the libraries both apps share, while creation
and startup are the service's own code (settings validation, logging setup). The caller also
times the whole process, interpreter start included, from the outside.
"""

from __future__ import annotations

import time

_STARTED = time.perf_counter()

import argparse  # noqa: E402  (the clock must start before anything else is imported)
import asyncio  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import cast  # noqa: E402

from bench.asgi import ASGIApp, Lifespan, load_factory  # noqa: E402


async def startup_and_shutdown(app: ASGIApp) -> float:
    """Run the lifespan once and return the startup time in milliseconds."""
    lifespan = Lifespan(app)
    started = time.perf_counter()
    await lifespan.startup()
    elapsed_ms = (time.perf_counter() - started) * 1e3
    await lifespan.shutdown()
    return elapsed_ms


def main(argv: list[str] | None = None) -> int:
    """Time import, creation and lifespan startup; write them as JSON to ``--out``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", required=True, help="module:factory returning an ASGI app")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    import_started = time.perf_counter()
    factory = load_factory(args.target)
    create_started = time.perf_counter()
    app = cast("ASGIApp", factory())
    created = time.perf_counter()
    startup_ms = asyncio.run(startup_and_shutdown(app))
    result = {
        "harness_ms": (import_started - _STARTED) * 1e3,
        "import_ms": (create_started - import_started) * 1e3,
        "create_ms": (created - create_started) * 1e3,
        "import_create_ms": (created - import_started) * 1e3,
        "startup_ms": startup_ms,
    }
    args.out.write_text(json.dumps(result), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
