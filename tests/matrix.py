"""The one definition of which answer combinations the template is tested with.

Only questions that change rendered code are dimensions here. Every test that renders a
combination, and the template's CI (through ``python -m tests.matrix``), reads this module, so
the local suite and CI cannot test different sets.

A dimension is either *exhaustive* (every value is combined with every value of every other
exhaustive dimension: a full product) or *pairwise* (every value is paired at least once with
every value of every other dimension, including each full-product tuple). The product keeps the
combinations that interact deeply (logging backend with Python version, later the database)
fully tested, while pairwise coverage keeps the matrix small as optional features are added
(error aggregators, tracing, metrics, rate-limit storage).

Adding a question that changes code is one line in ``DIMENSIONS``. ``database`` is pairwise,
which still crosses it with every (logging backend, Python) tuple; its server combinations get a
database of their own through ``tests/databases.py``. ``error_aggregators`` (a multiselect,
values as tuples), ``tracing`` and ``metrics`` would be ``exhaustive=False`` too, like
``rate_limit_storage`` (its redis combinations get a Redis through ``rendered_test_env``).
``CONSTRAINTS`` can refuse answer sets that cannot be rendered together.

Run ``python -m tests.matrix`` to print the combinations as a GitHub Actions matrix
(``{"include": [{"id": ..., "answers": {...}, <question>: <value>, ...}]}``).
"""

from __future__ import annotations

import itertools
import json
import sys
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeAlias

#: An answer as copier receives it in ``data``: a choice value, or a list for a multiselect.
Answer: TypeAlias = str | bool | int | tuple[str, ...]


@dataclass(frozen=True)
class Dimension:
    """One question whose answer changes the rendered code, and the values to test it with."""

    question: str
    values: tuple[Answer, ...]
    exhaustive: bool = True
    #: Short prefix in combination ids, e.g. ``py`` gives ``py3.12``.
    label_prefix: str = ""

    def label(self, value: Answer) -> str:
        """Return the part of a combination id that names ``value``."""
        if isinstance(value, tuple):
            text = "+".join(value) if value else "none"
        else:
            text = str(value).lower()
        return f"{self.label_prefix}{text}"


@dataclass(frozen=True)
class Combination:
    """One set of answers the template is rendered and checked with."""

    answers: Mapping[str, Answer] = field(hash=False)
    id: str

    @property
    def python_version(self) -> str:
        """Return the Python version the rendered project runs on."""
        return str(self.answers["python_version"])

    def copier_data(self) -> dict[str, object]:
        """Return the answers as copier's ``data`` argument (multiselects as lists)."""
        return {
            key: list(value) if isinstance(value, tuple) else value
            for key, value in self.answers.items()
        }


#: Predicate that refuses answer sets which cannot be rendered (none today).
Constraint: TypeAlias = Callable[[Mapping[str, Answer]], bool]

DIMENSIONS: tuple[Dimension, ...] = (
    Dimension("logging_backend", ("structlog", "loguru")),
    Dimension("python_version", ("3.11", "3.12", "3.13"), label_prefix="py"),
    Dimension("metrics", ("prometheus", "none"), exhaustive=False, label_prefix="metrics-"),
    Dimension("tracing", ("none", "otlp", "gcp"), exhaustive=False, label_prefix="tracing-"),
    Dimension("rate_limit_storage", ("memory", "redis"), exhaustive=False, label_prefix="rl-"),
    # Pairwise with the product's compound column, the database still meets every
    # (logging_backend, python_version) tuple: 24 combinations. In the product it would also be
    # crossed with rate_limit_storage, 48 combinations, too many for CI on two cores.
    Dimension(
        "database", ("sqlite", "postgresql", "mysql", "none"), exhaustive=False, label_prefix="db-"
    ),
)

CONSTRAINTS: tuple[Constraint, ...] = ()


def _allowed(answers: Mapping[str, Answer], constraints: Sequence[Constraint]) -> bool:
    return all(constraint(answers) for constraint in constraints)


def _pairwise(
    columns: Sequence[int],
    constraints: Callable[[Sequence[int]], bool],
) -> list[tuple[int, ...]]:
    """Return rows (value indexes per column) in which every pair of values meets at least once.

    A deterministic greedy construction: each new row is the candidate that covers the most
    pairs not yet covered, ties broken by enumeration order. ``columns`` gives each column's
    number of values; ``constraints`` refuses rows that cannot be rendered. A pair that no
    allowed row can cover is dropped instead of looping forever.
    """
    uncovered = {
        (a, va, b, vb)
        for a, b in itertools.combinations(range(len(columns)), 2)
        for va in range(columns[a])
        for vb in range(columns[b])
    }
    candidates = [
        row for row in itertools.product(*(range(n) for n in columns)) if constraints(row)
    ]
    coverable = {
        (a, row[a], b, row[b])
        for row in candidates
        for a, b in itertools.combinations(range(len(columns)), 2)
    }
    uncovered &= coverable
    if len(columns) < 2:
        return candidates
    rows: list[tuple[int, ...]] = []

    def gain(row: tuple[int, ...]) -> int:
        return sum(
            (a, row[a], b, row[b]) in uncovered
            for a, b in itertools.combinations(range(len(columns)), 2)
        )

    while uncovered:
        best = max(candidates, key=gain)
        rows.append(best)
        uncovered -= {
            (a, best[a], b, best[b]) for a, b in itertools.combinations(range(len(columns)), 2)
        }
    return rows


def build(
    dimensions: Sequence[Dimension] = DIMENSIONS,
    constraints: Sequence[Constraint] = CONSTRAINTS,
) -> list[Combination]:
    """Return the combinations: the full product of exhaustive dimensions, crossed pairwise.

    The exhaustive dimensions form one compound column whose values are their product tuples;
    the pairwise dimensions are the other columns. A pairwise covering set over those columns
    therefore contains every full-product tuple and pairs each with every other value.
    """
    exhaustive = [d for d in dimensions if d.exhaustive]
    pairwise = [d for d in dimensions if not d.exhaustive]
    product = list(itertools.product(*(d.values for d in exhaustive)))

    def answers_of(row: Sequence[int]) -> dict[str, Answer]:
        answers = dict(zip((d.question for d in exhaustive), product[row[0]], strict=True))
        for dim, index in zip(pairwise, row[1:], strict=True):
            answers[dim.question] = dim.values[index]
        return answers

    columns = [len(product), *(len(d.values) for d in pairwise)]
    rows = _pairwise(columns, lambda row: _allowed(answers_of(row), constraints))
    combinations = []
    for row in sorted(rows):
        answers = answers_of(row)
        combinations.append(
            Combination(
                answers={d.question: answers[d.question] for d in dimensions},
                id="-".join(d.label(answers[d.question]) for d in dimensions),
            )
        )
    return combinations


COMBINATIONS: tuple[Combination, ...] = tuple(build())

#: The Redis the rendered suites of ``rate_limit_storage=redis`` combinations test against.
TEST_REDIS = "redis://127.0.0.1:6379"


def rendered_test_env(combination: Combination) -> dict[str, str]:
    """Return the variables a combination's rendered test suite needs to reach its servers.

    Each redis combination gets its own Redis database (1-15, from its id; 0 is left to people),
    so combinations checked in parallel do not count in one keyspace; the rendered tests also
    use a fresh key prefix per test, so even a shared database would not mix their limits.
    """
    env: dict[str, str] = {}
    if combination.answers.get("rate_limit_storage") == "redis":
        database = 1 + zlib.crc32(combination.id.encode()) % 15
        env["TEST_REDIS_URL"] = f"{TEST_REDIS}/{database}"
    return env


def github_matrix(
    combinations: Sequence[Combination] = COMBINATIONS,
) -> dict[str, list[dict[str, object]]]:
    """Return the combinations as a GitHub Actions ``strategy.matrix`` value."""
    return {
        "include": [
            {"id": c.id, **c.copier_data(), "answers": c.copier_data()} for c in combinations
        ]
    }


def _main(argv: Sequence[str]) -> int:
    """Print the GitHub Actions matrix as one line of JSON (for ``$GITHUB_OUTPUT``)."""
    if argv:
        sys.stderr.write("usage: python -m tests.matrix\n")
        return 2
    sys.stdout.write(json.dumps(github_matrix(), separators=(",", ":")) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
