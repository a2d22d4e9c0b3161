"""The matrix definition itself: complete, pairwise where promised, printable for CI."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from collections.abc import Mapping
from typing import Any

import yaml

from tests.matrix import (
    COMBINATIONS,
    DIMENSIONS,
    TOGETHER,
    Answer,
    Dimension,
    build,
    github_matrix,
)
from tests.projects import REPO_ROOT


def _copier_choices() -> dict[str, list[Any]]:
    loaded = yaml.safe_load((REPO_ROOT / "copier.yml").read_text(encoding="utf-8"))
    choices = {}
    for name, spec in loaded.items():
        if isinstance(spec, dict) and "choices" in spec:
            raw = spec["choices"]
            choices[name] = list(raw.values() if isinstance(raw, dict) else raw)
    return choices


def test_every_choice_question_is_a_dimension_with_all_its_choices() -> None:
    """A question with choices is tested with each of them; a new choice cannot be forgotten."""
    choices = _copier_choices()
    assert {d.question for d in DIMENSIONS} == set(choices)
    for dimension in DIMENSIONS:
        expected = sorted(map(str, choices[dimension.question]))
        selections = [value for value in dimension.values if isinstance(value, tuple)]
        if selections:
            # A multiselect: none, each choice alone, and all of them together.
            assert len(selections) == len(dimension.values), dimension.question
            singles = sorted(value[0] for value in selections if len(value) == 1)
            assert singles == expected, dimension.question
            assert () in selections, dimension.question
            assert any(sorted(value) == expected for value in selections), dimension.question
        else:
            assert sorted(map(str, dimension.values)) == expected


def test_exhaustive_dimensions_form_a_full_product() -> None:
    """Every combination of the exhaustive dimensions' values is tested exactly once today."""
    exhaustive = [d for d in DIMENSIONS if d.exhaustive]
    expected = set(itertools.product(*(d.values for d in exhaustive)))
    seen = {tuple(c.answers[d.question] for d in exhaustive) for c in COMBINATIONS}
    assert seen == expected
    assert len({c.id for c in COMBINATIONS}) == len(COMBINATIONS)


def test_pairwise_dimensions_cover_every_pair() -> None:
    """With pairwise dimensions added, every pair of values meets and the set stays small."""
    dimensions = [
        Dimension("backend", ("a", "b")),
        Dimension("python", ("1", "2", "3")),
        Dimension("aggregators", ((), ("x",), ("y",), ("x", "y")), exhaustive=False),
        Dimension("tracing", ("none", "otlp", "gcp"), exhaustive=False),
        Dimension("metrics", (True, False), exhaustive=False),
    ]
    combinations = build(dimensions)
    product = [(c.answers["backend"], c.answers["python"]) for c in combinations]
    assert set(product) == set(itertools.product(("a", "b"), ("1", "2", "3")))
    for first, second in itertools.combinations(dimensions, 2):
        met = {(c.answers[first.question], c.answers[second.question]) for c in combinations}
        assert met == set(itertools.product(first.values, second.values)), (first, second)
    full_product = 2 * 3 * 4 * 3 * 2
    assert len(combinations) <= full_product // 4


def test_together_sets_meet_in_some_combination() -> None:
    """An answer set that no pair promises (a file rendered only under three answers) meets."""
    for goal in TOGETHER:
        assert any(goal(c.answers) for c in COMBINATIONS), goal
    dimensions = [
        Dimension("a", ("1", "2")),
        Dimension("b", ("x", "y"), exhaustive=False),
        Dimension("c", ("u", "v"), exhaustive=False),
    ]
    rare = {"a": "2", "b": "y", "c": "v"}

    def together(answers: Mapping[str, Answer]) -> bool:
        return all(answers[key] == value for key, value in rare.items())

    assert not any(together(c.answers) for c in build(dimensions, [], []))
    combinations = build(dimensions, [], [together])
    assert any(together(c.answers) for c in combinations)
    for first, second in itertools.combinations(dimensions, 2):
        met = {(c.answers[first.question], c.answers[second.question]) for c in combinations}
        assert met == set(itertools.product(first.values, second.values)), (first, second)


def test_constraints_exclude_combinations() -> None:
    """A constraint removes the answer sets it refuses, and only those."""
    dimensions = [Dimension("db", ("sqlite", "pg")), Dimension("py", ("1", "2"))]
    combinations = build(dimensions, [lambda a: not (a["db"] == "pg" and a["py"] == "1")])
    assert {(c.answers["db"], c.answers["py"]) for c in combinations} == {
        ("sqlite", "1"),
        ("sqlite", "2"),
        ("pg", "2"),
    }


def test_deploy_meets_every_database_server_and_never_sqlite() -> None:
    """Manifests are rendered with each server database and none, as copier.yml allows."""
    met = {(c.answers["deploy"], c.answers["database"]) for c in COMBINATIONS}
    deploys = next(d.values for d in DIMENSIONS if d.question == "deploy")
    with_deploy = {(deploy, database) for deploy, database in met if deploy}
    assert with_deploy == set(
        itertools.product([d for d in deploys if d], ("postgresql", "mysql", "none"))
    )


def _print_matrix(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tests.matrix", *argv],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_printable_for_github_actions() -> None:
    """``python -m tests.matrix`` prints the same combinations as one JSON line."""
    printed = _print_matrix()
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout.count("\n") == 1
    assert json.loads(printed.stdout) == github_matrix()
    assert [row["id"] for row in github_matrix()["include"]] == [c.id for c in COMBINATIONS]


def test_printing_refuses_arguments() -> None:
    """An unexpected argument is a usage error, not silently ignored."""
    printed = _print_matrix("--bad")
    assert printed.returncode == 2
    assert "usage" in printed.stderr
