"""The lower bounds of the rendered dependencies are tested, not hoped for.

Each project is installed with ``uv sync --resolution lowest-direct``: every direct dependency at
the oldest version its lower bound allows, on the oldest supported Python (then the ``load`` group
of ``make load`` where there is one, type-checked). The project must still pass its type checks
and its test suite, warnings as errors, against the real servers its answers choose (each database
driver, and the Redis client, at its lower bound).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.matrix import Answer, Combination, rendered_test_env
from tests.projects import UV, project_env, render, run

if TYPE_CHECKING:
    from pathlib import Path

    from tests.conftest import Projects

#: Answers whose rendered dependencies are checked at their lower bounds: every optional
#: dependency (each database driver, the Redis client, each error aggregator, tracing exporter,
#: the metrics client and PyJWT) is pulled in by at least one of them.
LOWEST_ANSWERS: dict[str, dict[str, Answer]] = {
    "structlog-postgresql": {
        "logging_backend": "structlog",
        "python_version": "3.11",
        "database": "postgresql",
        "error_aggregators": ("sentry", "gcp"),
        "metrics": "prometheus",
        "tracing": "gcp",
        "rate_limit_storage": "redis",
        "cache": "redis",
        "jobs": "redis",
        "deploy": ("kubernetes", "cloud-run"),
    },
    "loguru-mysql": {
        "logging_backend": "loguru",
        "python_version": "3.11",
        "database": "mysql",
        "error_aggregators": ("sentry", "gcp"),
        "metrics": "none",
        "tracing": "otlp",
    },
    "structlog-sqlite": {
        "logging_backend": "structlog",
        "python_version": "3.11",
        "database": "sqlite",
        "auth": "jwt",
    },
}


def test_every_optional_dependency_is_at_its_lower_bound_somewhere() -> None:
    """Every database driver, Redis, each aggregator and exporter is in some answer set."""
    chosen = {
        (question, value)
        for answers in LOWEST_ANSWERS.values()
        for question, values in answers.items()
        for value in (values if isinstance(values, tuple) else (values,))
    }
    needed = {
        ("database", "postgresql"),
        ("database", "mysql"),
        ("database", "sqlite"),
        ("rate_limit_storage", "redis"),
        ("cache", "redis"),
        ("jobs", "redis"),
        ("error_aggregators", "sentry"),
        ("error_aggregators", "gcp"),
        ("tracing", "otlp"),
        ("tracing", "gcp"),
        ("metrics", "prometheus"),
        ("auth", "jwt"),
        ("logging_backend", "structlog"),
        ("logging_backend", "loguru"),
        # PyYAML and its stubs, which the manifests' tests read them with.
        ("deploy", "kubernetes"),
    }
    assert needed <= chosen, sorted(needed - chosen)


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(name, marks=pytest.mark.xdist_group(f"lowest-{name}"))
        for name in LOWEST_ANSWERS
    ],
)
def test_oldest_allowed_dependencies_pass_the_checks(
    name: str, projects: Projects, tmp_path: Path
) -> None:
    """The rendered project passes mypy and pytest with its oldest allowed dependencies."""
    combination = Combination(answers=LOWEST_ANSWERS[name], id=f"lowest-{name}")
    project = render(tmp_path / "my-service", combination.copier_data())
    env = project_env(combination.python_version, mypy_flavour="lowest")
    env |= projects.databases.env_for(combination) | rendered_test_env(combination)
    run((UV, "sync", "--resolution", "lowest-direct"), project, env).assert_ok()
    run((UV, "run", "--frozen", "mypy"), project, env).assert_ok()
    run((UV, "run", "--frozen", "pytest", "-W", "error"), project, env).assert_ok()
    # The load group last, as `make load` adds it: its packages (brotli, through locust) change
    # what others do, such as sentry-sdk compressing its envelopes, so the suite runs without it.
    if (project / "loadtest").is_dir():
        lowest_with_load = (UV, "sync", "--resolution", "lowest-direct", "--group", "load")
        run(lowest_with_load, project, env).assert_ok()
        run((UV, "run", "--frozen", "mypy", "loadtest"), project, env).assert_ok()
