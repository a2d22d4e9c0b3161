"""Plain FastAPI behind only the library middleware the service takes as they are.

CORS (Starlette), trusted proxies (uvicorn) and correlation ids (asgi-correlation-id) are used
by the service without a line of its own code, configured as the `edge` scenario configures the
service. Measured against `plain.py` (or `notes.py`), these apps are the floor of what `edge`
(or `notes-get`) can reach: however fast the service's own middleware get, these three cost what
they cost.

    python -m bench.inprocess --target bench.apps.stock:create_app --header Origin:... --out ...
"""

from asgi_correlation_id import CorrelationIdMiddleware
from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from bench.apps import notes, plain
from bench.scenarios import BROWSER_ORIGIN, TRUSTED_PROXY


def with_library_middleware(app: FastAPI) -> FastAPI:
    """Add the three middleware, in the service's order (add_middleware wraps what is there)."""
    app.add_middleware(
        CORSMiddleware, allow_origins=[BROWSER_ORIGIN], expose_headers=["X-Request-ID"]
    )
    app.add_middleware(CorrelationIdMiddleware, header_name="X-Request-ID")
    app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=[TRUSTED_PROXY])
    return app


def create_app() -> FastAPI:
    """`plain.py` behind the three middleware."""
    return with_library_middleware(plain.create_app())


def create_notes_app() -> FastAPI:
    """`notes.py` behind the three middleware."""
    return with_library_middleware(notes.create_app())
