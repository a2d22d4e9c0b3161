"""The template's GitHub CI runs every item ``.ci/run`` runs, each in exactly one job.

``.ci/run`` runs the README's test command, every item of the suite. The workflow splits it
into one job per combination (``--combination ID``, ids from ``python -m tests.matrix``) and
one job for the items of no combination (``--no-combination``). The commands are read from
.github/workflows/ci.yml and the README, each is collected with ``pytest --collect-only``, and
the jobs' selections must be disjoint and add up to the README's.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.collection import collect, selection_args
from tests.matrix import COMBINATIONS
from tests.projects import REPO_ROOT, readme_block

WORKFLOW = REPO_ROOT / ".github" / "workflows" / "ci.yml"
MATRIX_ID = "${{ matrix.id }}"
README = "README test command (.ci/run)"


def pytest_args(command: str) -> list[str]:
    """Return the arguments after ``pytest`` in a shell command (``a && uv run pytest ...``)."""
    words = shlex.split(command.rsplit("&&", maxsplit=1)[-1])
    assert "pytest" in words, command
    return selection_args(words[words.index("pytest") + 1 :])


def readme_args() -> list[str]:
    """Return the arguments of the README's test command, the one .ci/run runs verbatim."""
    return pytest_args(readme_block("test-command"))


def workflow_selections(workflow: dict[str, Any]) -> dict[str, list[str]]:
    """Return each CI job's pytest arguments, one entry per matrix combination where it varies.

    A job over the combination matrix must take it from ``python -m tests.matrix``.
    """
    selections: dict[str, list[str]] = {}
    for name, job in workflow["jobs"].items():
        for step in job["steps"]:
            command = step.get("run", "")
            if not re.search(r"\bpytest\b", command):
                continue
            if MATRIX_ID not in command:
                assert "${{" not in command, f"{name}: unexpected expression in {command!r}"
                selections[name] = pytest_args(command)
                continue
            assert job["strategy"]["matrix"] == (
                "${{ fromJSON(needs.matrix.outputs.combinations) }}"
            ), f"job {name} must run the combinations of python -m tests.matrix"
            for combination in COMBINATIONS:
                expanded = command.replace(MATRIX_ID, combination.id)
                assert "${{" not in expanded, f"{name}: unexpected expression in {command!r}"
                selections[f"{name}[{combination.id}]"] = pytest_args(expanded)
    return selections


def test_the_matrix_job_prints_tests_matrix() -> None:
    """The combination jobs' matrix is what ``python -m tests.matrix`` prints."""
    workflow = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    commands = [step.get("run", "") for step in workflow["jobs"]["matrix"]["steps"]]
    assert any("python -m tests.matrix" in command for command in commands), commands


def selection_problems(full: list[str], jobs: dict[str, list[str]]) -> list[str]:
    """Say how the jobs' selections differ from ``full``: overlaps, gaps, extras, idle jobs."""
    problems = [f"CI job {job} selects no test" for job, node_ids in jobs.items() if not node_ids]
    runs_in: dict[str, str] = {}
    for job, node_ids in jobs.items():
        for node_id in node_ids:
            if node_id in runs_in:
                problems.append(f"{node_id} runs in {runs_in[node_id]} and in {job}")
            runs_in[node_id] = job
    problems += [f"no CI job runs {node_id}" for node_id in full if node_id not in runs_in]
    problems += [
        f"{job} runs {node_id}, which the README's command does not"
        for node_id, job in runs_in.items()
        if node_id not in set(full)
    ]
    return problems


def test_ci_jobs_together_run_exactly_what_ci_run_runs(tmp_path: Path) -> None:
    """Every item of the README's command is selected by exactly one CI job, and nothing else."""
    jobs = workflow_selections(yaml.safe_load(WORKFLOW.read_text(encoding="utf-8")))
    assert len(jobs) == len(COMBINATIONS) + 1, sorted(jobs)
    collected = collect({README: readme_args(), **jobs}, tmp_path)
    full = collected.pop(README)
    assert len(full) > len(COMBINATIONS), "the README's command collects the suite"
    assert len(set(full)) == len(full)
    problems = selection_problems(full, collected)
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems)


def test_selection_problems_name_overlaps_gaps_and_extras() -> None:
    """The comparison itself reports each way the jobs can differ from the full run."""
    full = ["t.py::a[x]", "t.py::a[y]", "t.py::b", "t.py::c"]
    jobs = {"x": ["t.py::a[x]", "t.py::b"], "rest": ["t.py::b", "t.py::d"], "idle": []}
    assert selection_problems(full, jobs) == [
        "CI job idle selects no test",
        "t.py::b runs in x and in rest",
        "no CI job runs t.py::a[y]",
        "no CI job runs t.py::c",
        "rest runs t.py::d, which the README's command does not",
    ]


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("python3 -m pip install -q uv && python3 -m uv run pytest -n 2", []),
        ('uv run pytest --combination "a b" -nauto --dist=loadgroup', ["--combination", "a b"]),
        ("uv run pytest --numprocesses 4 --dist load --no-combination", ["--no-combination"]),
    ],
)
def test_pytest_args_keep_what_selects(command: str, expected: list[str]) -> None:
    """Worker options select nothing and are dropped; selecting options are kept."""
    assert pytest_args(command) == expected


def test_an_unknown_combination_is_refused(tmp_path: Path) -> None:
    """A mistyped id is an error, not a job that silently runs nothing."""
    with pytest.raises(RuntimeError, match="unknown --combination no-such-id"):
        collect({"typo": ["--combination", "no-such-id"]}, tmp_path)
