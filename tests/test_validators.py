"""Every question refuses a wrong answer with a message that says what is allowed.

Answers are given to copier's API as ``data`` with ``defaults=True``, which is how
``copier copy --defaults -d key=value`` behaves: a refused answer raises ``ValueError`` naming
the question and carrying the validator's message. The expected text below is the start of
each message, which is what a user reads first.
"""

from __future__ import annotations

import json
import keyword
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import Projects, combination_params
from tests.matrix import Combination
from tests.projects import REPO_ROOT, render
from tests.pythons import find_python

COPIER_YML = REPO_ROOT / "copier.yml"
#: What package_name's validator accepts before it looks at reserved names.
PACKAGE_NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]*")

#: question -> (start of the validator's message, refused answers, accepted answers); each
#: rendering takes the defaults for the other questions (database: SQLite).
VALIDATED: dict[str, tuple[str, list[Any], list[Any]]] = {
    "project_name": (
        "project_name must be 1-64 letters, digits, spaces",
        ["", "1st Service", "-service", "a" * 65, "bad/name", "new\nline", 'quo"te'],
        ["My Service", "x", "Billing API 2.0", "orders_v2-beta", "a" * 64],
    ),
    "project_slug": (
        "project_slug must be kebab-case, like my-service",
        ["", "My-Service", "-service", "service-", "my--service", "1service", "my_service"],
        ["my-service", "x", "billing-api2", "a1-b2-c3"],
    ),
    "package_name": (
        "package_name must be a lowercase Python identifier, like my_service",
        ["", "My_service", "1service", "my-service", "_private", "my service", "é"],
        ["my_service", "x", "billing_api2", "orders_"],
    ),
    "description": (
        "description must be one line of 1 to 200 characters",
        ["", "two\nlines", "carriage\rreturn", 'a "quoted" word', "back\\slash", "x" * 201],
        ["A service.", "Orders: create, list & cancel (v2) — with 'quotes'", "x" * 200],
    ),
    "author_name": (
        "author_name must be one line of 1 to 100 characters",
        ["", "two\nlines", 'Jane "JD" Doe', "Jane <jd>", "back\\slash", "x" * 101],
        ["Jane Doe", "Platform Team (SRE)", "Zoë O'Brien", "x" * 100],
    ),
    "author_email": (
        "author_email must be an e-mail address",
        ["", "nope", "a@b", "a@example.c", "a b@example.com", "@example.com", "a@.com", "a@x..com"],
        ["team@example.com", "first.last+tag@sub.example.co.uk", "a_b%c@host-1.io"],
    ),
    # Accepted with a database server: every combination of tests/matrix.py with `deploy`.
    "deploy": (
        "deploy must run with a database server",
        [["kubernetes"], ["cloud-run"], ["kubernetes", "cloud-run"]],
        [[]],
    ),
    # Refused with `database=none` (REFUSED_WITH); accepted with the default database.
    "cache": (
        "cache must be none without a database",
        ["redis"],
        ["none", "redis"],
    ),
}
#: Other answers a question's refused answers are rendered with (the defaults otherwise).
REFUSED_WITH: dict[str, dict[str, Any]] = {"cache": {"database": "none"}}


def _questions() -> dict[str, dict[str, Any]]:
    """Return copier.yml's questions (settings such as ``_subdirectory`` left out)."""
    loaded = yaml.safe_load(COPIER_YML.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return {
        key: value
        for key, value in loaded.items()
        if not key.startswith("_") and isinstance(value, dict)
    }


def _choices(question: str) -> list[str]:
    choices = _questions()[question]["choices"]
    return [str(value) for value in (choices.values() if isinstance(choices, dict) else choices)]


def _hidden_list(name: str) -> set[str]:
    """Return a ``when: false`` list of copier.yml (a setting for validators, not a question)."""
    default = _questions()[name]["default"]
    assert isinstance(default, list)
    return {str(item) for item in default}


def _reserved_module_names() -> set[str]:
    return _hidden_list("reserved_module_names")


def _refusal(question: str, message_start: str) -> str:
    return re.escape(f"Validation error for question '{question}': {message_start}")


#: Columns copier's prompt puts before a help text ("🎤 " and a space), in an 80-column terminal.
HELP_WIDTH = 80 - 3
#: What a person reads of a refusal before the terminal cuts the line.
MESSAGE_WIDTH = 70


def test_help_texts_fit_a_terminal_line() -> None:
    """Every question's help is one line that fits an 80-column prompt (details: README)."""
    too_long = {
        name: spec["help"]
        for name, spec in _questions().items()
        if spec.get("when") is not False
        and (len(spec["help"]) > HELP_WIDTH or "\n" in spec["help"].strip())
    }
    assert not too_long, too_long


def test_a_refusal_says_what_is_wrong_first() -> None:
    """The start of each refusal, what a narrow terminal still shows, names the rule broken."""
    for question, (message_start, _, _) in VALIDATED.items():
        assert len(message_start) <= MESSAGE_WIDTH, question
        assert message_start.startswith(f"{question} must "), question


def test_every_validated_question_is_tested() -> None:
    """A question with a validator in copier.yml has cases here (and no stale cases remain)."""
    with_validator = {name for name, spec in _questions().items() if "validator" in spec}
    assert with_validator == set(VALIDATED)


@pytest.mark.parametrize(
    ("question", "answer"),
    [(q, answer) for q, (_, refused, _) in VALIDATED.items() for answer in refused],
)
def test_validator_refuses(question: str, answer: Any, tmp_path: Path) -> None:
    """A wrong answer is refused with the question's own message."""
    with pytest.raises(ValueError, match=_refusal(question, VALIDATED[question][0])):
        render(tmp_path / "out", {question: answer} | REFUSED_WITH.get(question, {}))


@pytest.mark.parametrize("package_name", ["lambda", "import", "async", "del", "class", "await"])
def test_package_name_may_not_be_a_keyword(package_name: str, tmp_path: Path) -> None:
    """A Python keyword cannot be imported, so it is refused as the package name."""
    expected = _refusal("package_name", f'package_name "{package_name}" is a Python keyword')
    with pytest.raises(ValueError, match=expected):
        render(tmp_path / "out", {"package_name": package_name})


def test_the_keyword_list_is_pythons() -> None:
    """copier.yml's list is exactly the keywords a lowercase package name could collide with."""
    lowercase = {word for word in keyword.kwlist if word.islower()}
    assert _hidden_list("python_keywords") == lowercase


@pytest.mark.parametrize(
    "package_name", ["json", "logging", "types", "secrets", "fastapi", "pydantic", "tests"]
)
def test_package_name_may_not_shadow_a_module(package_name: str, tmp_path: Path) -> None:
    """A package named like a standard-library or dependency module is refused."""
    expected = _refusal("package_name", f'package_name "{package_name}" would shadow a')
    with pytest.raises(ValueError, match=expected):
        render(tmp_path / "out", {"package_name": package_name})


def _accepted_batches() -> list[dict[str, Any]]:
    """Return the accepted answers in as few renderings as there are answers to one question.

    The n-th accepted answer of every question goes into the n-th rendering: a rendering costs
    a second, and one that takes several good answers at once proves each of them is accepted.
    """
    width = max(len(accepted) for _, _, accepted in VALIDATED.values())
    return [
        {q: accepted[n] for q, (_, _, accepted) in VALIDATED.items() if n < len(accepted)}
        for n in range(width)
    ]


@pytest.mark.parametrize(
    "answers", [pytest.param(batch, id=f"batch-{n}") for n, batch in enumerate(_accepted_batches())]
)
def test_validators_accept(answers: dict[str, Any], tmp_path: Path) -> None:
    """Good answers render and are recorded in the answers file."""
    out = render(tmp_path / "out", answers)
    recorded = yaml.safe_load((out / ".copier-answers.yml").read_text(encoding="utf-8"))
    assert {question: recorded[question] for question in answers} == answers


@pytest.mark.parametrize("question", ["python_version", "logging_backend"])
def test_choice_refuses_unknown_value(question: str, tmp_path: Path) -> None:
    """An answer outside a question's choices is refused with the allowed values."""
    allowed = _choices(question)
    with pytest.raises(ValueError, match=re.escape(f"Invalid choice for '{question}'")) as error:
        render(tmp_path / "out", {question: "not-a-choice"})
    assert all(choice in str(error.value) for choice in allowed)


@pytest.mark.parametrize("python_version", _choices("python_version"))
def test_reserved_names_cover_the_standard_library(python_version: str) -> None:
    """Every public standard-library module of each supported Python is a reserved name."""
    probe = subprocess.run(
        [
            find_python(python_version),
            "-c",
            "import json, sys; print(json.dumps(sorted(sys.stdlib_module_names)))",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    stdlib = {name for name in json.loads(probe.stdout) if name[0] != "_"}
    missing = sorted(stdlib - _reserved_module_names())
    assert not missing, f"add to reserved_module_names in copier.yml: {missing}"


def test_reserved_names_cover_this_interpreter() -> None:
    """The interpreter running the tests agrees (guards against a wrong ``find_python``)."""
    stdlib = {name for name in sys.stdlib_module_names if not name.startswith("_")}
    assert stdlib <= _reserved_module_names()


_IMPORT_NAMES = """
import importlib.metadata as md, json, sys
wanted = {n.lower().replace("_", "-").replace(".", "-") for n in sys.argv[1:]}
names = sorted(
    module
    for module, dists in md.packages_distributions().items()
    if any(d.lower().replace("_", "-").replace(".", "-") in wanted for d in dists)
)
print(json.dumps(names))
"""


def _direct_dependencies(pyproject: Path) -> list[str]:
    """Return the distribution names a rendered pyproject.toml depends on directly."""
    data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    specs: list[str] = list(data.get("project", {}).get("dependencies", []))
    for extra in data.get("project", {}).get("optional-dependencies", {}).values():
        specs.extend(extra)
    for group in data.get("dependency-groups", {}).values():
        specs.extend(spec for spec in group if isinstance(spec, str))
    names = []
    for spec in specs:
        match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", spec)
        assert match, f"unparsable dependency {spec!r} in {pyproject}"
        names.append(match.group(0))
    return names


@pytest.mark.parametrize("combination", combination_params())
def test_reserved_names_cover_dependencies(combination: Combination, projects: Projects) -> None:
    """Every top-level module of a direct dependency that is a valid package name is reserved.

    Names the package_name pattern refuses anyway (private, compiled-helper names) are left out.
    """
    project = projects.synced(combination)
    project.require_installed()
    dependencies = _direct_dependencies(project.path / "pyproject.toml")
    listed = project.run(
        str(project.path / ".venv" / "bin" / "python"), "-c", _IMPORT_NAMES, *dependencies
    )
    listed.assert_ok()
    modules = {name for name in json.loads(listed.output) if PACKAGE_NAME_PATTERN.fullmatch(name)}
    assert modules, f"found no modules for the dependencies {dependencies}"
    missing = sorted(modules - _reserved_module_names())
    assert not missing, f"add to reserved_module_names in copier.yml: {missing}"
