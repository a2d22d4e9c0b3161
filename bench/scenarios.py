"""What is measured: one endpoint, served by the rendered service and by a reference app.

A scenario names its endpoint, the answer both apps must give, the reference app, the settings
the service runs with, the headers every request carries, the copier answers the render needs
and, when the endpoint reads data, a module that prepares it. Adding one means writing its
reference app under ``bench/apps`` and registering it here; the load, in-process and cold-start
drivers take any ``module:factory`` target.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace

# Far above what one worker can serve, so the limiter runs its full check and never answers 429.
UNREACHABLE_RATE_LIMIT = "100000000/minute"
# The `edge` requests come from this browser origin through this proxy (the in-process client's
# and wrk's address).
BROWSER_ORIGIN = "https://app.example.com"
TRUSTED_PROXY = "127.0.0.1"
NOTES_DATABASE_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/bench_notes"
)
NOTES_REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


@dataclass(frozen=True)
class Scenario:
    """One endpoint compared between the rendered service and a reference ("plain") app.

    ``plain_target`` is a ``module:factory`` importable in the rendered project's venv with the
    template repository's root on ``sys.path``. ``service_env`` holds extra settings for the
    service *without* its env prefix (``LOGGING__LEVEL``), so the scenario works for any
    package name; ``env`` goes to both apps as it is. ``answers`` are the copier answers the
    render must have. ``prepare`` is a module run once in the venv before measuring (with the
    scenario's environment); it writes the JSON ``{"path": ..., "expected_json": ...}`` to the
    file named by its ``--out`` argument, for endpoints whose path or answer depends on data it
    creates.
    """

    name: str
    description: str
    path: str
    expected_status: int
    expected_json: object
    plain_target: str
    service_env: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    headers: tuple[tuple[str, str], ...] = ()
    answers: dict[str, str] = field(default_factory=dict)
    prepare: str | None = None
    # Share of the reference app's requests per second the service should keep, and who says so.
    target_ratio: float = 0.85
    target_source: str = "issue 2"
    # In-process batches are this many times smaller, for endpoints that cost milliseconds.
    iterations_divisor: int = 1


HEALTH = Scenario(
    name="health",
    description=(
        "GET /health as an ordinary route: service defaults, but /health is not a probe path, so "
        "the access line and metrics record it; rate limiting is off (edge measures it)"
    ),
    path="/health",
    expected_status=200,
    expected_json={"status": "ok"},
    plain_target="bench.apps.plain:create_app",
    service_env={"RATE_LIMIT__ENABLED": "false"},
)

HEALTH_UNLOGGED = Scenario(
    name="health-unlogged",
    description=(
        "GET /health as the probe it is by default: correlation id, security headers and body "
        "limit only; it is not logged, counted or rate limited"
    ),
    path="/health",
    expected_status=200,
    expected_json={"status": "ok"},
    plain_target="bench.apps.plain:create_app",
    service_env={"HTTP__PROBE_PATHS": '["/health", "/readiness"]'},
)

# No probe paths, so each middleware does its full work on /health: the access log
# writes its line, metrics count the request, the limiter checks and counts it in memory, CORS
# answers the browser origin, the proxy headers are believed from the trusted peer.
EDGE = Scenario(
    name="edge",
    description=(
        "GET /health with every middleware doing its full work (issue 5): security headers, "
        "CORS for a browser origin, body limit, trusted proxy, in-memory rate limit, metrics, "
        "JSON access log"
    ),
    path="/health",
    expected_status=200,
    expected_json={"status": "ok"},
    plain_target="bench.apps.plain:create_app",
    service_env={
        "HTTP__PROBE_PATHS": "[]",
        "RATE_LIMIT__DEFAULT": UNREACHABLE_RATE_LIMIT,
        "CORS__ALLOW_ORIGINS": json.dumps([BROWSER_ORIGIN]),
        "HTTP__TRUSTED_PROXIES": json.dumps([TRUSTED_PROXY]),
    },
    headers=(("Origin", BROWSER_ORIGIN), ("X-Forwarded-For", "203.0.113.7")),
    answers={"metrics": "prometheus", "rate_limit_storage": "memory"},
    target_ratio=0.8,
    target_source="issue 5",
)

# Issue 3: the example resource read by id from a real PostgreSQL, against the smallest FastAPI
# + SQLAlchemy endpoint running the same query on the same row.
NOTES = Scenario(
    name="notes-get",
    description=(
        "GET /notes/{id} from PostgreSQL (issue 3): the service's router -> service -> "
        "repository with its session per request, vs a minimal FastAPI + SQLAlchemy endpoint"
    ),
    path="/notes/{id}",  # replaced by the prepare step's answer
    expected_status=200,
    expected_json=None,  # idem
    plain_target="bench.apps.notes:create_app",
    service_env={
        "DATABASE__URL": NOTES_DATABASE_URL,
        "RATE_LIMIT__DEFAULT": UNREACHABLE_RATE_LIMIT,
    },
    env={"BENCH_DATABASE_URL": NOTES_DATABASE_URL},
    answers={"database": "postgresql"},
    prepare="bench.apps.notes",
    target_source="issue 3",
    iterations_divisor=10,
)

# Issue 14: the same GET by id with a bearer token that is verified (a development token, ES256,
# so the service runs in the test environment), against the same service with reads open.
NOTES_AUTH = Scenario(
    name="notes-get-auth",
    description=(
        "GET /notes/{id} from PostgreSQL with a verified bearer token (issue 14), vs the same "
        "service and GET without authentication"
    ),
    path="/notes/{id}",  # replaced by the prepare step's answer
    expected_status=200,
    expected_json=None,  # idem
    plain_target="bench.apps.authenticated:create_app",
    service_env={
        "ENVIRONMENT": "test",
        "AUTH__READ_REQUIRES_TOKEN": "true",
        "DATABASE__URL": NOTES_DATABASE_URL,
        "RATE_LIMIT__DEFAULT": UNREACHABLE_RATE_LIMIT,
    },
    env={"BENCH_DATABASE_URL": NOTES_DATABASE_URL},
    answers={"database": "postgresql", "auth": "jwt"},
    prepare="bench.apps.authenticated",
    target_ratio=0.9,
    target_source="issue 14",
    iterations_divisor=10,
)

# Issue 15: the same GET by id answered from the Redis cache, against the same reference as
# `notes-get` (which reads the database on every request); measured in one run with `notes-get`,
# the two ratios compare the cached GET with the uncached one.
NOTES_CACHED = replace(
    NOTES,
    name="notes-get-cached",
    description=(
        "GET /notes/{id} answered from the Redis cache (issue 15), vs the minimal FastAPI + "
        "SQLAlchemy endpoint reading PostgreSQL; run it with notes-get to compare"
    ),
    service_env=NOTES.service_env | {"CACHE__REDIS_URL": NOTES_REDIS_URL},
    answers=NOTES.answers | {"cache": "redis"},
    target_source="issue 15",
)

SCENARIOS: dict[str, Scenario] = {
    s.name: s for s in (HEALTH, HEALTH_UNLOGGED, EDGE, NOTES, NOTES_AUTH, NOTES_CACHED)
}
# What a run measures unless told otherwise: the targets of issues 2, 5 and 3.
DEFAULT_SCENARIOS = ("health", "edge", "notes-get")
