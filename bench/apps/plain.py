"""The baseline: the smallest idiomatic FastAPI app that gives the same ``/health`` answer.

It is imported from the rendered project's virtualenv, so it runs on exactly the same FastAPI,
Starlette, pydantic and uvicorn versions as the service: the only difference measured is the
service's own code (settings, middleware, logging, error handlers).
"""

from fastapi import FastAPI


def create_app() -> FastAPI:
    """Build the plain app; a factory so it is served exactly like the service (``--factory``)."""
    app = FastAPI()

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app
