"""Every question refuses a wrong answer with a message that says what is allowed.

Answers are given to copier's API as ``data`` with ``defaults=True``, which is how
``copier copy --defaults -d key=value`` behaves: a refused answer raises ``ValueError`` naming
the question and carrying the validator's message. The expected text below is the start of
each message, which is what a user reads first.
"""

from __future__ import annotations

import json
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

#: question -> (start of the validator's message, refused answers, accepted answers)
VALIDATED: dict[str, tuple[str, list[str], list[str]]] = {
    "project_name": (
        "project_name must start with a letter",
        ["", "1st Service", "-service", "a" * 65, "bad/name", "new\nline", 'quo"te'],
        ["My Service", "x", "Billing API 2.0", "orders_v2-beta", "a" * 64],
    ),
    "project_slug": (
        "project_slug must be kebab-case",
        ["", "My-Service", "-service", "service-", "my--service", "1service", "my_service"],
        ["my-service", "x", "billing-api2", "a1-b2-c3"],
    ),
    "package_name": (
        "package_name must be a lowercase Python identifier",
        ["", "My_service", "1service", "my-service", "_private", "my service", "é"],
        ["my_service", "x", "billing_api2", "orders_"],
    ),
    "description": (
        "description must be a single line of 1 to 200 characters",
        ["", "two\nlines", "carriage\rreturn", 'a "quoted" word', "back\\slash", "x" * 201],
        ["A service.", "Orders: create, list & cancel (v2) — with 'quotes'", "x" * 200],
    ),
    "author_name": (
        "author_name must be a single line of 1 to 100 characters",
        ["", "two\nlines", 'Jane "JD" Doe', "Jane <jd>", "back\\slash", "x" * 101],
        ["Jane Doe", "Platform Team (SRE)", "Zoë O'Brien", "x" * 100],
    ),
    "author_email": (
        "author_email must be an e-mail address",
        ["", "nope", "a@b", "a@example.c", "a b@example.com", "@example.com", "a@.com", "a@x..com"],
        ["team@example.com", "first.last+tag@sub.example.co.uk", "a_b%c@host-1.io"],
    ),
}


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


def _reserved_module_names() -> set[str]:
    default = _questions()["reserved_module_names"]["default"]
    assert isinstance(default, list)
    return {str(name) for name in default}


def _refusal(question: str, message_start: str) -> str:
    return re.escape(f"Validation error for question '{question}': {message_start}")


def test_every_validated_question_is_tested() -> None:
    """A question with a validator in copier.yml has cases here (and no stale cases remain)."""
    with_validator = {name for name, spec in _questions().items() if "validator" in spec}
    assert with_validator == set(VALIDATED)


@pytest.mark.parametrize(
    ("question", "answer"),
    [(q, answer) for q, (_, refused, _) in VALIDATED.items() for answer in refused],
)
def test_validator_refuses(question: str, answer: str, tmp_path: Path) -> None:
    """A wrong answer is refused with the question's own message."""
    with pytest.raises(ValueError, match=_refusal(question, VALIDATED[question][0])):
        render(tmp_path / "out", {question: answer})


@pytest.mark.parametrize(
    "package_name", ["json", "logging", "types", "secrets", "fastapi", "pydantic", "tests"]
)
def test_package_name_may_not_shadow_a_module(package_name: str, tmp_path: Path) -> None:
    """A package named like a standard-library or dependency module is refused."""
    expected = _refusal("package_name", f'package_name "{package_name}" would shadow a')
    with pytest.raises(ValueError, match=expected):
        render(tmp_path / "out", {"package_name": package_name})


@pytest.mark.parametrize(
    ("question", "answer"),
    [(q, answer) for q, (_, _, accepted) in VALIDATED.items() for answer in accepted],
)
def test_validator_accepts(question: str, answer: str, tmp_path: Path) -> None:
    """A good answer renders and is recorded in the answers file."""
    out = render(tmp_path / "out", {question: answer})
    answers = yaml.safe_load((out / ".copier-answers.yml").read_text(encoding="utf-8"))
    assert answers[question] == answer


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
