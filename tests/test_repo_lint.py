"""The template repository's own Python passes the same bar as the code it renders.

ruff and mypy run on tests/, bench/ and hooks/ with the configuration in pyproject.toml, from
the environment running the tests (the repository's uv project).
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.projects import REPO_ROOT

#: The repository's own Python (``mypy``'s ``files`` in pyproject.toml lists the same).
CODE_DIRS = [name for name in ("tests", "bench", "hooks") if (REPO_ROOT / name).is_dir()]
#: Each tool with the arguments a developer runs from the repository root. mypy is given the
#: directories that exist, so a checkout without bench/ or hooks/ yet still checks the rest.
LINTERS: dict[str, list[str]] = {
    "ruff-check": [sys.executable, "-m", "ruff", "check", "."],
    "ruff-format": [sys.executable, "-m", "ruff", "format", "--check", "."],
    "mypy": [sys.executable, "-m", "mypy", *CODE_DIRS],
}


@pytest.mark.parametrize("linter", list(LINTERS))
def test_repository_code_is_clean(linter: str) -> None:
    """The repository's own code passes ruff check, ruff format --check and mypy --strict."""
    result = subprocess.run(
        LINTERS[linter],
        cwd=REPO_ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, f"{linter} failed:\n{result.stdout}{result.stderr}"
