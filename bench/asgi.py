"""A minimal ASGI server stand-in: lifespan and synthetic HTTP requests, driven in-process.

This runs inside the rendered project's virtualenv, so it uses only the standard library. It
talks to the app through the ASGI interface alone (no Starlette test client, no httpx), which
keeps the harness cost small and identical for both apps: what differs is the app.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Awaitable, Callable
from typing import Any, cast

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_REQUEST_MESSAGE: Message = {"type": "http.request", "body": b"", "more_body": False}


def load_factory(target: str) -> Callable[[], object]:
    """Resolve ``module:factory``; split from the call so import and creation can be timed apart."""
    module_name, _, attribute = target.partition(":")
    if not attribute:
        raise ValueError(f"target must look like 'package.module:factory', got {target!r}")
    module = importlib.import_module(module_name)
    return cast("Callable[[], object]", getattr(module, attribute))


class Lifespan:
    """Run the ASGI lifespan protocol like uvicorn does, including the shared ``state`` dict.

    Starlette refuses a lifespan that yields state when the server offers no ``state``, so the
    stand-in offers one and hands a shallow copy to each request, as uvicorn does.
    """

    def __init__(self, app: ASGIApp) -> None:
        """Prepare the queues; nothing runs until :meth:`startup`."""
        self._app = app
        self.state: dict[str, Any] = {}
        self._to_app: asyncio.Queue[Message] = asyncio.Queue()
        self._from_app: asyncio.Queue[Message] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def _serve(self, scope: Scope) -> None:
        """Wrap the app call in a coroutine: an ASGI app is only promised to be awaitable."""
        await self._app(scope, self._to_app.get, self._send)

    async def _send(self, message: Message) -> None:
        await self._from_app.put(message)

    async def startup(self) -> None:
        """Start the app's lifespan task and wait until it reports that startup completed."""
        scope: Scope = {
            "type": "lifespan",
            "asgi": {"version": "3.0", "spec_version": "2.0"},
            "state": self.state,
        }
        self._task = asyncio.create_task(self._serve(scope))
        await self._exchange("lifespan.startup")

    async def shutdown(self) -> None:
        """Ask the app to shut down (flushing its logs) and wait for the lifespan task to end."""
        await self._exchange("lifespan.shutdown")
        if self._task is not None:
            await self._task

    async def _exchange(self, event: str) -> None:
        """Send one lifespan event and fail loudly unless the app answers ``<event>.complete``."""
        if self._task is None:
            raise RuntimeError("lifespan was not started")
        await self._to_app.put({"type": event})
        answer = asyncio.ensure_future(self._from_app.get())
        await asyncio.wait({answer, self._task}, return_when=asyncio.FIRST_COMPLETED)
        if not answer.done():
            answer.cancel()
            self._task.result()  # re-raises the app's exception
            raise RuntimeError(f"the app ended its lifespan task without answering {event}")
        message = answer.result()
        if message["type"] != f"{event}.complete":
            raise RuntimeError(f"{event} failed: {message.get('message', message)}")


class Request:
    """A reusable synthetic ``GET`` request: build once, call :meth:`send_to` many times."""

    def __init__(
        self, path: str, state: dict[str, Any], headers: list[tuple[str, str]] | None = None
    ) -> None:
        """Precompute the parts of the scope that never change between calls."""
        self._path = path
        self._raw_path = path.encode()
        self._state = state
        self._headers = [
            (b"host", b"127.0.0.1:8000"),
            (b"user-agent", b"bench/1"),
            (b"accept", b"*/*"),
            *((name.lower().encode(), value.encode()) for name, value in headers or ()),
        ]

    def scope(self) -> Scope:
        """Return a fresh scope each call, because apps and middleware may mutate it."""
        return {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.4"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": self._path,
            "raw_path": self._raw_path,
            "root_path": "",
            "query_string": b"",
            "headers": list(self._headers),
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
            "state": dict(self._state),
        }

    async def send_to(self, app: ASGIApp) -> tuple[int, bytes]:
        """Run one request through ``app`` and return its status and body.

        After the body, ``receive`` blocks until the response is complete and then reports a
        disconnect, like a real server; answering "disconnect" at once would make streaming
        responses abort early and look faster than they are.
        """
        status = 0
        body: list[bytes] = []
        finished: asyncio.Future[None] | None = None
        requested = complete = False

        async def receive() -> Message:
            nonlocal requested, finished
            if not requested:
                requested = True
                return _REQUEST_MESSAGE
            if not complete:
                finished = finished or asyncio.get_running_loop().create_future()
                await finished
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            nonlocal status, complete
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                body.append(message.get("body", b""))
                if not message.get("more_body", False):
                    complete = True
                    if finished is not None:
                        finished.set_result(None)

        await app(self.scope(), receive, send)
        return status, b"".join(body)
