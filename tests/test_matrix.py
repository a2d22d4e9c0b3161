"""Render every combination of the matrix, install it with uv and run its own checks.

Each check is its own test item, so a report says which check failed for which combination
and shows that command's output. Items of one combination share one rendering and one
``uv sync`` (see conftest.py).
"""

from __future__ import annotations

import pytest

from tests.conftest import Projects, combination_params
from tests.matrix import Combination
from tests.projects import UV

#: The rendered project's checks, exactly as its README tells its owner to run them.
CHECKS: dict[str, tuple[str, ...]] = {
    "ruff-check": (UV, "run", "ruff", "check", "."),
    "ruff-format": (UV, "run", "ruff", "format", "--check", "."),
    "mypy": (UV, "run", "mypy"),
    "pytest": (UV, "run", "pytest", "-W", "error"),
}

pytestmark = pytest.mark.parametrize("combination", combination_params())


def test_renders(combination: Combination, projects: Projects) -> None:
    """Copier renders the combination without error."""
    projects.synced(combination).require_rendered()


def test_uv_sync(combination: Combination, projects: Projects) -> None:
    """``uv sync`` installs the project on the interpreter its ``python_version`` names."""
    project = projects.synced(combination)
    project.require_rendered()
    assert project.sync is not None
    project.sync.assert_ok()
    probe = project.run(
        str(project.path / ".venv" / "bin" / "python"),
        "-c",
        "import sys; print('%d.%d' % sys.version_info[:2])",
    )
    probe.assert_ok()
    assert probe.output.strip() == combination.python_version


@pytest.mark.parametrize("check", list(CHECKS))
def test_check(combination: Combination, check: str, projects: Projects) -> None:
    """The rendered project passes its own check."""
    project = projects.synced(combination)
    project.require_installed()
    result = project.run(*CHECKS[check])
    result.assert_ok()
