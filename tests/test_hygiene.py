"""Every rendered file reads as if written by hand for exactly the answers given.

For each combination of the matrix, on the rendering its checks install a copy of (so nothing
has run in it): no Jinja is left unrendered; no file is empty, has trailing whitespace or a
missing/doubled final newline; the answers file is rendered; only the chosen logging backend
appears anywhere. Rendering twice gives the same tree: checked on one combination per logging
backend, each with both error aggregators and a server database, since a second rendering of
every combination would cost as much as the first.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from tests.conftest import Projects, combination_params
from tests.matrix import COMBINATIONS, DIMENSIONS, Combination

every_combination = pytest.mark.parametrize("combination", combination_params())

ANSWERS_FILE = ".copier-answers.yml"
#: Jinja openings. ``${{`` (GitHub Actions expressions, escaped in the template) and ``${#``
#: (shell string length) are legitimate, so a ``$`` before the brace is allowed. Closings are
#: not searched: ``}}`` ends nested dicts in plain Python.
UNRENDERED = re.compile(r"(?<!\$)\{[{%#]")
LOGGING_BACKENDS = next(d.values for d in DIMENSIONS if d.question == "logging_backend")


def _files(root: Path) -> Iterator[Path]:
    """Yield every file of a rendered tree, relative to ``root``, in a stable order."""
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if path.is_file() and relative.parts[0] != ".git":
            yield relative


def _text(root: Path, relative: Path) -> str:
    """Return a rendered file's text; every rendered file must be UTF-8 text."""
    data = (root / relative).read_bytes()
    assert b"\0" not in data, f"{relative} is binary; the template renders text only"
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        pytest.fail(f"{relative} is not UTF-8: {error}", pytrace=False)


def _empty(relative: Path, text: str) -> Iterator[str]:
    if not text.strip():
        yield f"{relative}: empty"


def _final_newline(relative: Path, text: str) -> Iterator[str]:
    if text and (not text.endswith("\n") or text.endswith("\n\n")):
        yield f"{relative}: must end with exactly one newline, ends with {text[-20:]!r}"


def _trailing_whitespace(relative: Path, text: str) -> Iterator[str]:
    for number, line in enumerate(text.split("\n"), start=1):
        if line != line.rstrip():
            yield f"{relative}:{number}: trailing whitespace: {line!r}"


def _unrendered_jinja(relative: Path, text: str) -> Iterator[str]:
    for number, line in enumerate(text.split("\n"), start=1):
        if UNRENDERED.search(line):
            yield f"{relative}:{number}: unrendered Jinja: {line.strip()!r}"


def _problems(root: Path, check: Callable[[Path, str], Iterator[str]]) -> str:
    """Return one line per violation of ``check`` in the tree (empty when there is none)."""
    return "\n".join(
        problem for relative in _files(root) for problem in check(relative, _text(root, relative))
    )


def _rendered_twice() -> list[Combination]:
    """Return, per logging backend, its richest combination: a server database, both aggregators."""
    chosen = []
    for backend in LOGGING_BACKENDS:
        candidates = [c for c in COMBINATIONS if c.answers["logging_backend"] == backend]
        chosen.append(
            max(
                candidates,
                key=lambda c: (
                    c.answers["error_aggregators"] == ("sentry", "gcp"),
                    c.answers["database"] in {"postgresql", "mysql"},
                    c.answers["tracing"] != "none",
                ),
            )
        )
    return chosen


@pytest.mark.parametrize("combination", combination_params(_rendered_twice()))
def test_rendering_twice_gives_the_same_tree(combination: Combination, projects: Projects) -> None:
    """Two renderings with the same answers are identical, file names, bytes and modes.

    The answers file's ``_commit`` is compared apart: when the template has uncommitted
    changes, copier commits them in a temporary clone, and that commit's id carries a time.
    """
    first = projects.pristine(combination, "a")
    second = projects.pristine(combination, "b")
    first_files, second_files = list(_files(first)), list(_files(second))
    assert first_files == second_files
    differences = []
    for relative in first_files:
        a, b = first / relative, second / relative
        if relative == Path(ANSWERS_FILE):
            answers_a = yaml.safe_load(a.read_text(encoding="utf-8"))
            answers_b = yaml.safe_load(b.read_text(encoding="utf-8"))
            answers_a.pop("_commit", None)
            answers_b.pop("_commit", None)
            same = answers_a == answers_b
        else:
            same = a.read_bytes() == b.read_bytes() and a.stat().st_mode == b.stat().st_mode
        if not same:
            diff = difflib.unified_diff(
                a.read_text(encoding="utf-8", errors="replace").splitlines(),
                b.read_text(encoding="utf-8", errors="replace").splitlines(),
                f"a/{relative}",
                f"b/{relative}",
                lineterm="",
            )
            differences.append("\n".join(list(diff)[:40]) or f"{relative}: mode differs")
    assert not differences, "\n".join(differences)


@every_combination
def test_no_unrendered_jinja(combination: Combination, projects: Projects) -> None:
    """No ``{{``, ``{%`` or ``{#`` is left in any file, nor Jinja in any file name."""
    root = projects.pristine(combination)
    names = [
        str(relative)
        for relative in _files(root)
        if relative.suffix == ".jinja" or any(UNRENDERED.search(p) for p in relative.parts)
    ]
    assert not names, f"file names left unrendered: {names}"
    problems = _problems(root, _unrendered_jinja)
    assert not problems, problems


@every_combination
def test_no_empty_file(combination: Combination, projects: Projects) -> None:
    """Every file has content (an ``__init__.py`` says what its package is for)."""
    problems = _problems(projects.pristine(combination), _empty)
    assert not problems, problems


@every_combination
def test_no_trailing_whitespace(combination: Combination, projects: Projects) -> None:
    """No line ends with spaces or tabs (or a carriage return)."""
    problems = _problems(projects.pristine(combination), _trailing_whitespace)
    assert not problems, problems


@every_combination
def test_files_end_with_one_newline(combination: Combination, projects: Projects) -> None:
    """Every file ends with exactly one newline."""
    problems = _problems(projects.pristine(combination), _final_newline)
    assert not problems, problems


@every_combination
def test_answers_file_is_rendered(combination: Combination, projects: Projects) -> None:
    """``.copier-answers.yml`` records where the project came from and every answer given."""
    root = projects.pristine(combination)
    answers = yaml.safe_load((root / ANSWERS_FILE).read_text(encoding="utf-8"))
    assert isinstance(answers, dict)
    assert answers.get("_src_path"), answers
    assert answers.get("_commit"), answers
    for question, value in combination.copier_data().items():
        assert answers.get(question) == value, question
    for question in ("project_name", "project_slug", "package_name", "author_email"):
        assert question in answers, question
    assert "reserved_module_names" not in answers


@every_combination
def test_only_the_chosen_logging_backend_is_rendered(
    combination: Combination, projects: Projects
) -> None:
    """The chosen backend's module is rendered and no file names the other backends."""
    root = projects.pristine(combination)
    chosen = str(combination.answers["logging_backend"])
    logs = root / "src" / "my_service" / "observability" / "logs.py"
    assert logs.is_file(), f"{logs} is not rendered"
    assert re.search(rf"^(import|from) {chosen}\b", logs.read_text(encoding="utf-8"), re.M)
    others = [str(b) for b in LOGGING_BACKENDS if b != chosen]
    pattern = re.compile(rf"\b({'|'.join(others)})\b", re.IGNORECASE)
    mentions = [
        f"{relative}:{number}: {line.strip()}"
        for relative in _files(root)
        if relative != Path(ANSWERS_FILE)
        for number, line in enumerate(_text(root, relative).splitlines(), start=1)
        if pattern.search(line) or pattern.search(str(relative))
    ]
    assert not mentions, f"{chosen} project mentions {others}:\n" + "\n".join(mentions)
