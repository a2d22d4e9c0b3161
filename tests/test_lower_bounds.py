"""The lower bounds of the rendered dependencies are tested, not hoped for.

Each project is installed with ``uv sync --resolution lowest-direct``: every direct dependency at
the oldest version its lower bound allows, on the oldest supported Python. The project must
still pass its type check and its test suite, warnings as errors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.projects import UV, project_env, render, run

if TYPE_CHECKING:
    from pathlib import Path

#: Answers whose rendered dependencies are checked at their lower bounds: every optional
#: dependency is pulled in by at least one of them.
LOWEST_ANSWERS: dict[str, dict[str, object]] = {
    "structlog": {
        "logging_backend": "structlog",
        "python_version": "3.11",
        "error_aggregators": ["sentry", "gcp"],
        "metrics": "prometheus",
        "tracing": "gcp",
    },
    "loguru": {
        "logging_backend": "loguru",
        "python_version": "3.11",
        "error_aggregators": ["sentry", "gcp"],
        "metrics": "none",
        "tracing": "otlp",
    },
}


@pytest.mark.parametrize(
    "answers",
    [
        pytest.param(answers, id=name, marks=pytest.mark.xdist_group(f"lowest-{name}"))
        for name, answers in LOWEST_ANSWERS.items()
    ],
)
def test_oldest_allowed_dependencies_pass_the_checks(
    answers: dict[str, object], tmp_path: Path
) -> None:
    """The rendered project passes mypy and pytest with its oldest allowed dependencies."""
    project = render(tmp_path / "my-service", answers)
    env = project_env(str(answers["python_version"]))
    run((UV, "sync", "--resolution", "lowest-direct"), project, env).assert_ok()
    run((UV, "run", "--frozen", "mypy"), project, env).assert_ok()
    run((UV, "run", "--frozen", "pytest", "-W", "error"), project, env).assert_ok()
