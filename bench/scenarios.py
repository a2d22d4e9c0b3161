"""What is measured: one endpoint, served by the rendered service and by a reference app.

A scenario is the unit later issues extend: a database GET-by-id compared with a minimal
FastAPI + SQLAlchemy endpoint (issue 3), or a ``/health``-like endpoint with every middleware on
(issue 5). Adding one means writing its reference app under ``bench/apps`` and registering it
here; the load, in-process and cold-start drivers take any ``module:factory`` target.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Scenario:
    """One endpoint compared between the rendered service and a reference ("plain") app.

    ``plain_target`` is a ``module:factory`` importable in the rendered project's venv with the
    template repository's root on ``sys.path``. ``service_env`` holds extra settings for the
    service *without* its env prefix (``LOGGING__LEVEL``), so the scenario works for any
    package name.
    """

    name: str
    description: str
    path: str
    expected_status: int
    expected_json: object
    plain_target: str
    service_env: dict[str, str] = field(default_factory=dict)


HEALTH = Scenario(
    name="health",
    description="GET /health: service with every middleware and JSON access log on, vs plain",
    path="/health",
    expected_status=200,
    expected_json={"status": "ok"},
    plain_target="bench.apps.plain:create_app",
)

HEALTH_UNLOGGED = Scenario(
    name="health-unlogged",
    description=(
        "GET /health with the service's default exclusion of /health from the access log: "
        "every middleware runs, no log line is written"
    ),
    path="/health",
    expected_status=200,
    expected_json={"status": "ok"},
    plain_target="bench.apps.plain:create_app",
    service_env={"LOGGING__ACCESS_LOG_EXCLUDE_PATHS": '["/health"]'},
)

SCENARIOS: dict[str, Scenario] = {s.name: s for s in (HEALTH, HEALTH_UNLOGGED)}
# What a run measures unless told otherwise: issue 2's target is about the logged /health.
DEFAULT_SCENARIOS = ("health",)
