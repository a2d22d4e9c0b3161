"""``make load`` and ``make soak`` work in a fresh render with the default answers.

The default render (SQLite, Prometheus metrics) gets its ``.env`` from ``.env.example`` as
copier's task makes it, is installed with ``uv sync``, and each target runs for a few seconds
against the real ``python -m my_service`` it starts. The thresholds of these short runs are
loose, because a loaded machine is slow, not wrong: what is checked is that the tools run end
to end, print their summary and verdict and exit 0, that a threshold no run can meet makes them
exit 1, and that the load code passes ``mypy --strict`` with the ``load`` group installed (the
everyday ``mypy`` of the project leaves it out, as ``uv sync`` leaves the group out).
"""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING

import pytest

from tests.projects import UV, CommandResult, project_env, render, run

if TYPE_CHECKING:
    from pathlib import Path

PYTHON_VERSION = "3.12"
#: A few users for a few seconds; p99 and growth limits no healthy run misses on a busy machine.
SHORT = "--users 5 --spawn-rate 5 --max-p99 30000"

#: What ``make load`` runs, without make (whose own exit status is 2 on any failure).
LOADTEST = (UV, "run", "--group", "load", "python", "-m", "loadtest")

pytestmark = pytest.mark.xdist_group("load")


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Render the default answers, install them and add the development ``.env``."""
    path = render(tmp_path_factory.mktemp("load") / "my-service", {"project_name": "My Service"})
    shutil.copyfile(path / ".env.example", path / ".env")
    run((UV, "sync"), path, env()).assert_ok()
    return path


def env() -> dict[str, str]:
    """Return the clean environment for the render's commands."""
    return project_env(PYTHON_VERSION)


def make(project: Path, target: str, arguments: str) -> CommandResult:
    """Run ``make target ARGS=arguments`` in the project."""
    return run(("make", target, f"ARGS={arguments}"), project, env())


def test_everyday_sync_leaves_the_load_tools_out(project: Path) -> None:
    """``uv sync`` installs no locust (nor gevent): the load group is separate."""
    result = run((UV, "run", "--no-sync", "python", "-c", "import locust"), project, env())
    assert not result.ok
    assert "No module named 'locust'" in result.output


def test_make_load_runs_and_passes(project: Path) -> None:
    """A short ``make load`` prints the per-endpoint table and a passing verdict."""
    result = make(project, "load", f"{SHORT} --duration 5")

    result.assert_ok()
    lines = result.output.splitlines()
    assert lines[-1] == "PASS", result.explain()
    assert "load: 5 users for 5 s against http://127.0.0.1:" in result.output
    for endpoint in (
        "POST   /notes ",
        "GET    /notes/{id}",
        "PATCH  /notes/{id}",
        "DELETE /notes/{id}",
    ):
        assert endpoint in result.output, result.explain()
    assert "  ok    error rate: 0.00% (at most 1%)" in lines, result.explain()
    assert "  ok    exceptions in the users' code: 0 (none)" in lines, result.explain()


def test_make_soak_samples_and_passes(project: Path) -> None:
    """A short ``make soak`` prints its samples, pool included, and a passing verdict."""
    result = make(
        project,
        "soak",
        f"{SHORT} --duration 8 --warm-up 3 --interval 2 --max-rss-growth 100 --max-fd-growth 50",
    )

    result.assert_ok()
    lines = result.output.splitlines()
    assert lines[-1] == "PASS", result.explain()
    header = next(i for i, line in enumerate(lines) if "RSS MiB" in line)
    samples = lines[header + 1 : lines.index("verdict:") - 1]
    # At start, at each 2 s interval, once warm-up ends and at the end.
    assert len(samples) >= 4, result.explain()
    pool = [line.split()[3] for line in samples]
    assert all(value.isdigit() for value in pool), result.explain()
    assert any("resident memory past warm-up" in line for line in lines), result.explain()
    assert any("open file descriptors past warm-up" in line for line in lines)
    assert "  ok    database pool connections checked out after the load: 0 (none)" in lines


def test_a_threshold_missed_fails_the_run(project: Path) -> None:
    """A p99 limit of 0 ms cannot be met: the run says FAIL and exits 1."""
    result = run(
        (*LOADTEST, "load", *SHORT.split(), "--duration", "2", "--max-p99", "0"),
        project,
        env(),
    )

    assert result.returncode == 1, result.explain()
    assert result.output.splitlines()[-1] == "FAIL"
    assert any(line.startswith("  FAIL  p99: ") for line in result.output.splitlines())


def test_load_code_passes_mypy_strict(project: Path) -> None:
    """The load code type-checks once the load group is installed."""
    run((UV, "run", "--group", "load", "mypy", "--strict", "loadtest"), project, env()).assert_ok()
