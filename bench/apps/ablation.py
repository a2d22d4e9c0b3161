"""The service with some of its middleware taken out: what one costs is the difference.

Removing a middleware from the real app, instead of adding it to the plain one, keeps
everything it depends on in place (settings, the logging set up by the lifespan, the other
middleware), so the measured cost is the cost inside the service. Starlette builds the middleware
stack on the first call, so editing ``user_middleware`` after ``create_app()`` takes effect.

``python -m bench.apps.ablation`` prints the service's middleware names, outermost first.
"""

from __future__ import annotations

import json
import os
import sys

from starlette.applications import Starlette
from starlette.middleware import Middleware

from bench.apps import DROP_ALL, DROP_ENV, SERVICE_TARGET_ENV
from bench.asgi import load_factory


def middleware_name(entry: Middleware) -> str:
    """Name a middleware entry by its class, as the report shows it."""
    return str(getattr(entry.cls, "__name__", entry.cls))


def service() -> Starlette:
    """Create the service exactly as its factory does."""
    app = load_factory(os.environ[SERVICE_TARGET_ENV])()
    if not isinstance(app, Starlette):
        raise TypeError(f"{os.environ[SERVICE_TARGET_ENV]} did not build a Starlette app")
    return app


def create_app() -> Starlette:
    """Build the service, then drop the middleware named in ``BENCH_DROP_MIDDLEWARE``."""
    app = service()
    drop = {name for name in os.environ.get(DROP_ENV, "").split(",") if name}
    app.user_middleware = [
        entry
        for entry in app.user_middleware
        if DROP_ALL not in drop and middleware_name(entry) not in drop
    ]
    return app


if __name__ == "__main__":
    sys.stdout.write(json.dumps([middleware_name(entry) for entry in service().user_middleware]))
