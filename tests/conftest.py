"""Shared fixtures: rendered projects, cached per combination for the whole session.

Every test about one matrix combination carries ``xdist_group(<combination id>)``, and pytest
runs with ``--dist loadgroup``, so all of a combination's items land on one worker and the
combination is rendered (and installed) once, however many checks run on it.

``--combination ID`` (repeatable) keeps only the items of those combinations, and
``--no-combination`` only the items that belong to no combination (validators, the matrix
definition, lower bounds, update, hooks, shipping files, repository lint, the branch check...).
Given together, they keep both. The template's CI runs one job per combination (ids from
``python -m tests.matrix``) and one ``--no-combination`` job: together exactly the items of the
README's test command, which tests/test_ci_selection.py proves.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.databases import Databases
from tests.matrix import COMBINATIONS, Combination, rendered_test_env
from tests.projects import UV, CommandResult, project_env, render, run

PACKAGE = "my_service"


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register ``--combination`` and ``--no-combination``."""
    parser.addoption(
        "--combination",
        action="append",
        default=[],
        metavar="ID",
        help="only run tests of this matrix combination (repeatable); see python -m tests.matrix",
    )
    parser.addoption(
        "--no-combination",
        action="store_true",
        default=False,
        help="only run tests that belong to no matrix combination (with --combination: those too)",
    )


def combination_of(item: pytest.Item) -> str | None:
    """Return the id of the matrix combination ``item`` checks, or ``None`` if it has none."""
    callspec = getattr(item, "callspec", None)
    combination = callspec.params.get("combination") if callspec else None
    if isinstance(combination, Combination) and combination in COMBINATIONS:
        return combination.id
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Keep the items ``--combination`` and ``--no-combination`` select (all without them)."""
    chosen: list[str] = config.getoption("combination")
    rest: bool = config.getoption("no_combination")
    if not chosen and not rest:
        return
    known = {c.id for c in COMBINATIONS}
    unknown = sorted(set(chosen) - known)
    if unknown:
        raise pytest.UsageError(
            f"unknown --combination {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        combination = combination_of(item)
        selected = combination in chosen if combination is not None else rest
        (keep if selected else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def combination_params(combinations: Iterable[Combination] = COMBINATIONS) -> list[Any]:
    """Return combinations (the whole matrix by default) as ``pytest.param`` values.

    Each is grouped on one xdist worker, with every other item of its combination.
    """
    return [pytest.param(c, id=c.id, marks=pytest.mark.xdist_group(c.id)) for c in combinations]


@dataclass
class SyncedProject:
    """A rendered project after ``uv sync``, or the reason it could not get there."""

    combination: Combination
    path: Path
    env: dict[str, str]
    render_error: BaseException | None = None
    sync: CommandResult | None = None

    def require_rendered(self) -> None:
        """Fail the calling test, with copier's error, if rendering failed."""
        if self.render_error is not None:
            pytest.fail(
                f"rendering {self.combination.id} failed: "
                f"{type(self.render_error).__name__}: {self.render_error}",
                pytrace=False,
            )

    def require_installed(self) -> None:
        """Fail the calling test if rendering or ``uv sync`` failed (details in their tests)."""
        if self.render_error is not None:
            pytest.fail(
                f"not checked: rendering {self.combination.id} failed "
                f"(see test_renders[{self.combination.id}])",
                pytrace=False,
            )
        if self.sync is None or not self.sync.ok:
            pytest.fail(
                f"not checked: uv sync failed (see test_uv_sync[{self.combination.id}])",
                pytrace=False,
            )

    def run(self, *argv: str) -> CommandResult:
        """Run a command in the project with its clean environment."""
        return run(argv, self.path, self.env)


@dataclass
class Projects:
    """Session cache of rendered projects, keyed by combination id."""

    base: Path
    _pristine: dict[tuple[str, str], Path | BaseException] = field(default_factory=dict)
    _synced: dict[str, SyncedProject] = field(default_factory=dict)
    databases: Databases = field(default_factory=Databases)

    def pristine(self, combination: Combination, copy: str = "a") -> Path:
        """Return a rendering of ``combination`` that nothing has run in (one per session).

        ``copy`` names independent renderings of the same answers (to compare them); the
        installed project of ``synced`` is a copy of copy ``a``, so each combination is
        rendered once however many tests read it.
        """
        key = (combination.id, copy)
        if key not in self._pristine:
            dst = self.base / "pristine" / combination.id / copy / "my-service"
            try:
                self._pristine[key] = render(dst, combination.copier_data())
            except Exception as error:  # noqa: BLE001 - replayed to every test that needs it
                self._pristine[key] = error
        cached = self._pristine[key]
        if isinstance(cached, BaseException):
            raise cached
        return cached

    def synced(self, combination: Combination) -> SyncedProject:
        """Return ``combination`` installed with ``uv sync`` (once per session).

        The project is a copy of the pristine rendering, so the hygiene tests keep a tree that
        nothing has run in and the combination is still rendered only once.
        """
        if combination.id not in self._synced:
            dst = self.base / "synced" / combination.id / "my-service"
            env = project_env(combination.python_version) | rendered_test_env(combination)
            project = SyncedProject(combination, dst, env)
            try:
                project.env |= self.databases.env_for(combination)
                shutil.copytree(self.pristine(combination), dst, symlinks=True)
            except Exception as error:  # noqa: BLE001 - reported by every check of the combination
                project.render_error = error
            else:
                project.sync = project.run(UV, "sync")
            self._synced[combination.id] = project
        return self._synced[combination.id]


@pytest.fixture(scope="session")
def projects(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Projects]:
    """Return the session's cache of rendered projects; drop their test databases at the end."""
    projects = Projects(tmp_path_factory.mktemp("projects"))
    yield projects
    projects.databases.drop_all()
