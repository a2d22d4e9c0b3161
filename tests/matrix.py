"""The one definition of which answer combinations the template is tested with.

Only questions that change rendered code are dimensions here. Every test that renders a
combination, and the template's CI (through ``python -m tests.matrix``), reads this module, so
the local suite and CI cannot test different sets.

A dimension is either *exhaustive* (every value is combined with every value of every other
exhaustive dimension: a full product, each tuple exactly once) or *pairwise*. Every value of
every dimension meets every value of every other dimension at least once, so each optional
feature is rendered with each logging backend, database, Python version and other feature,
while the matrix grows with the product, not with the number of questions.

A few files are rendered only under three answers together (the job worker's Kubernetes
manifest with Prometheus metrics); pairs alone do not promise that such a set meets, so
``TOGETHER`` names each set that must, and the rows are chosen to meet them too.

Adding a question that changes code is one line in ``DIMENSIONS``. Server combinations get their
own database (``tests/databases.py``) and Redis database (``rendered_test_env``).
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


#: Predicate that refuses answer sets which cannot be rendered.
Constraint: TypeAlias = Callable[[Mapping[str, Answer]], bool]

DIMENSIONS: tuple[Dimension, ...] = (
    # The full product of the questions that change the most code together: logging backend x
    # database x error aggregators, 32 combinations (about 30 minutes on two cores). Every other
    # question is paired with every value of each of these and of each other.
    Dimension("logging_backend", ("structlog", "loguru")),
    Dimension("database", ("sqlite", "postgresql", "mysql", "none"), label_prefix="db-"),
    # A multiselect: none, each aggregator alone, and both together.
    Dimension(
        "error_aggregators", ((), ("sentry",), ("gcp",), ("sentry", "gcp")), label_prefix="err-"
    ),
    Dimension("python_version", ("3.11", "3.12", "3.13"), exhaustive=False, label_prefix="py"),
    Dimension("metrics", ("prometheus", "none"), exhaustive=False, label_prefix="metrics-"),
    Dimension("tracing", ("none", "otlp", "gcp"), exhaustive=False, label_prefix="tracing-"),
    Dimension("rate_limit_storage", ("memory", "redis"), exhaustive=False, label_prefix="rl-"),
    Dimension("auth", ("none", "jwt"), exhaustive=False, label_prefix="auth-"),
    Dimension("cache", ("none", "redis"), exhaustive=False, label_prefix="cache-"),
    Dimension("jobs", ("none", "redis"), exhaustive=False, label_prefix="jobs-"),
    Dimension(
        "deploy",
        ((), ("kubernetes",), ("cloud-run",), ("kubernetes", "cloud-run")),
        exhaustive=False,
        label_prefix="deploy-",
    ),
)


def _deploy_has_a_database_server(answers: Mapping[str, Answer]) -> bool:
    """copier.yml refuses manifests for many machines with SQLite, one machine's file."""
    return not (answers.get("deploy") and answers.get("database") == "sqlite")


def _cache_has_a_database(answers: Mapping[str, Answer]) -> bool:
    """copier.yml refuses a cache without a database whose rows it would keep."""
    return not (answers.get("cache", "none") != "none" and answers.get("database") == "none")


CONSTRAINTS: tuple[Constraint, ...] = (_deploy_has_a_database_server, _cache_has_a_database)


def _jobs_deployed_to(target: str, metrics: str) -> Constraint:
    """Return a predicate: jobs deployed to ``target`` with ``metrics``."""

    def met(answers: Mapping[str, Answer]) -> bool:
        deploy = answers.get("deploy")
        return (
            answers.get("jobs", "none") != "none"
            and isinstance(deploy, tuple)
            and target in deploy
            and answers.get("metrics") == metrics
        )

    return met


#: Answer sets that must meet in some combination although no pair promises it: each is a
#: branch of a file rendered only under all of its answers (the worker's Kubernetes manifests
#: have a port and scrape annotations with Prometheus, none without).
TOGETHER: tuple[Constraint, ...] = (
    _jobs_deployed_to("kubernetes", "prometheus"),
    _jobs_deployed_to("kubernetes", "none"),
)


def _allowed(answers: Mapping[str, Answer], constraints: Sequence[Constraint]) -> bool:
    return all(constraint(answers) for constraint in constraints)


def _pairs(row: Sequence[int]) -> set[tuple[int, int, int, int]]:
    return {(a, row[a], b, row[b]) for a, b in itertools.combinations(range(len(row)), 2)}


def _covering_rows(
    columns: Sequence[int],
    exhaustive: Sequence[int],
    allowed: Callable[[Sequence[int]], bool],
    goals: Sequence[Callable[[Sequence[int]], bool]] = (),
) -> list[tuple[int, ...]]:
    """Return rows (a value index per column) covering the product and every pair of values.

    The rows hold every allowed full-product tuple of the ``exhaustive`` columns, every pair
    of values of any two columns meets in at least one row, and each of the ``goals`` holds for
    at least one row. Deterministic and greedy: each product tuple is completed with the values
    of the other columns that cover the most pairs and goals not yet covered (a goal counts as
    one pair); then rows are added, each the candidate covering the most, until none is left.
    Ties go to enumeration order. A pair or goal that no allowed row can cover is dropped
    instead of looping forever.
    """
    candidates = [row for row in itertools.product(*(range(n) for n in columns)) if allowed(row)]
    uncovered = set().union(*(_pairs(row) for row in candidates)) if candidates else set()
    unmet = {i for i, goal in enumerate(goals) if any(goal(row) for row in candidates)}
    rows: list[tuple[int, ...]] = []

    def gain(row: tuple[int, ...]) -> int:
        return len(_pairs(row) & uncovered) + sum(1 for i in unmet if goals[i](row))

    def take(row: tuple[int, ...]) -> None:
        rows.append(row)
        uncovered.difference_update(_pairs(row))
        unmet.difference_update({i for i in unmet if goals[i](row)})

    by_tuple: dict[tuple[int, ...], list[tuple[int, ...]]] = {}
    for row in candidates:
        by_tuple.setdefault(tuple(row[i] for i in exhaustive), []).append(row)
    for completions in by_tuple.values():
        take(max(completions, key=gain))
    while uncovered or unmet:
        take(max(candidates, key=gain))
    return rows


def _on_rows(
    goal: Constraint, answers_of: Callable[[Sequence[int]], dict[str, Answer]]
) -> Callable[[Sequence[int]], bool]:
    """Return ``goal`` as a predicate on rows of value indexes."""
    return lambda row: goal(answers_of(row))


def build(
    dimensions: Sequence[Dimension] = DIMENSIONS,
    constraints: Sequence[Constraint] = CONSTRAINTS,
    together: Sequence[Constraint] = TOGETHER,
) -> list[Combination]:
    """Return the combinations: the exhaustive dimensions' full product, each tuple once.

    Each tuple is completed so that every value of every dimension meets every value of every
    other dimension, and each answer set of ``together`` meets in some combination.
    """

    def answers_of(row: Sequence[int]) -> dict[str, Answer]:
        return {d.question: d.values[i] for d, i in zip(dimensions, row, strict=True)}

    rows = _covering_rows(
        [len(d.values) for d in dimensions],
        [i for i, d in enumerate(dimensions) if d.exhaustive],
        lambda row: _allowed(answers_of(row), constraints),
        [_on_rows(goal, answers_of) for goal in together],
    )
    combinations = []
    for row in sorted(rows):
        answers = answers_of(row)
        combinations.append(
            Combination(
                answers=answers,
                id="-".join(d.label(answers[d.question]) for d in dimensions),
            )
        )
    return combinations


COMBINATIONS: tuple[Combination, ...] = tuple(build())

#: The Redis the rendered suites of combinations with a Redis (rate limits, cache, jobs) test
#: against.
TEST_REDIS = "redis://127.0.0.1:6379"


def rendered_test_env(combination: Combination) -> dict[str, str]:
    """Return the variables a combination's rendered test suite needs to reach its servers.

    Each combination with rate limits or jobs on Redis gets its own Redis database (1-15, from
    its id; 0 is left to people), so combinations checked in parallel do not count or queue in
    one keyspace; the rendered tests also give each test a service name of its own (the keys'
    prefix), so even a shared database would not mix their limits or jobs.
    """
    env: dict[str, str] = {}
    answers = combination.answers
    if "redis" in (answers.get("rate_limit_storage"), answers.get("cache"), answers.get("jobs")):
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
