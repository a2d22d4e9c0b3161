"""The post-render tasks: first commit, ``.env`` with fresh secrets, and answer migrations.

Renders go through copier's command line with tasks enabled, from a scratch git repository
holding this checkout's template, so the tests see what a user sees after ``copier copy``.
"""

from __future__ import annotations

import os
import re
import stat
import sys
from pathlib import Path

import pytest
from packaging.version import Version

from hooks.migrate_answers import Rename, applicable, rename_answers
from hooks.post_render import (
    FALLBACK_EMAIL,
    FALLBACK_NAME,
    fill_placeholders,
    missing_variables,
)
from tests.update_support import (
    GIT_ENV,
    copy_checkout,
    git,
    init_template_repo,
    isolated_env,
    render,
    run,
)

# secrets.token_urlsafe(32): 32 random bytes, base64url without padding.
GENERATED = r"[A-Za-z0-9_-]{43}"


@pytest.fixture
def template(tmp_path: Path) -> Path:
    """Return a git repository holding this checkout's template, tagged v0.1.0."""
    return init_template_repo(tmp_path / "template")


def assert_env_from_example(project: Path) -> None:
    """Check ``.env`` is ``.env.example`` with each placeholder replaced by a secret."""
    example = (project / ".env.example").read_text(encoding="utf-8").splitlines()
    env = (project / ".env").read_text(encoding="utf-8").splitlines()
    assert len(env) == len(example)
    for example_line, env_line in zip(example, env, strict=True):
        if example_line.lstrip().startswith("#") or "CHANGE_ME" not in example_line:
            assert env_line == example_line
        else:
            pattern = re.sub(r"CHANGE_ME(?:_[A-Z0-9_]+)?", GENERATED, re.escape(example_line))
            assert re.fullmatch(pattern, env_line), (example_line, env_line)


def test_copy_commits_the_render_and_creates_env(template: Path, tmp_path: Path) -> None:
    """A fresh render is a git repository whose first commit holds every rendered file."""
    project = tmp_path / "service"
    result = render(template, project)

    assert (project / ".git").is_dir()
    assert git(project, "rev-list", "--count", "HEAD") == "1"
    assert "v0.1.0" in git(project, "log", "-1", "--format=%s")
    committed = set(git(project, "ls-files").splitlines())
    rendered = {
        path.relative_to(project).as_posix()
        for path in project.rglob("*")
        if path.is_file() and ".git" not in path.relative_to(project).parts
    }
    assert committed == rendered - {".env"}
    # .env holds secrets: never committed, ignored by git, private to its owner.
    assert git(project, "status", "--porcelain") == ""
    assert git(project, "check-ignore", ".env") == ".env"
    assert stat.S_IMODE((project / ".env").stat().st_mode) == 0o600
    assert_env_from_example(project)
    assert "Next steps:" in result.stdout
    assert "WARNING" not in result.stdout


def test_existing_env_is_never_overwritten(template: Path, tmp_path: Path) -> None:
    """Rendering again over a project, or recopying it, keeps the owner's ``.env``."""
    project = tmp_path / "service"
    render(template, project)
    owners_env = "MY_OWN_SETTING=keep me\n"
    (project / ".env").write_text(owners_env, encoding="utf-8")

    again = render(template, project, data={"project_name": "My Service"})
    assert "Kept the existing .env" in again.stdout
    assert "sets variables your .env does not" in again.stdout
    assert "MY_SERVICE_SERVER__PORT" in again.stdout
    assert (project / ".env").read_text(encoding="utf-8") == owners_env

    run([sys.executable, "-m", "copier", "recopy", "--trust", "--defaults", "--overwrite"], project)
    assert (project / ".env").read_text(encoding="utf-8") == owners_env
    assert git(project, "rev-list", "--count", "HEAD") == "1"


def test_missing_git_is_reported_not_fatal(tmp_path: Path) -> None:
    """Without git on PATH the render still succeeds, creates ``.env`` and says what it skipped.

    The template is a plain directory here: with no git on PATH copier cannot clone a
    repository, but a user can still render a downloaded copy of the template.
    """
    template = copy_checkout(tmp_path / "template")
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    project = tmp_path / "service"

    result = render(template, project, ref=None, env=isolated_env(PATH=str(empty_bin)))

    assert "git not found on PATH" in result.stdout
    assert "uv" in result.stdout  # uv is missing too, and the next steps say so
    assert not (project / ".git").exists()
    assert_env_from_example(project)


def test_unset_identity_uses_a_fallback_for_the_first_commit_only(
    template: Path, tmp_path: Path
) -> None:
    """With no git identity configured the first commit is made, under a named placeholder."""
    project = tmp_path / "service"
    env = {key: value for key, value in isolated_env().items() if key not in GIT_ENV}
    env.update(GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_NOSYSTEM="1", HOME=str(tmp_path / "home"))
    env.pop("EMAIL", None)

    result = render(template, project, env=env)

    assert "git user.name/user.email are not set" in result.stdout
    author = git(project, "log", "-1", "--format=%an <%ae>")
    assert author == f"{FALLBACK_NAME} <{FALLBACK_EMAIL}>"
    # The identity was passed to that one command, not written into the repository.
    assert "user.name" not in (project / ".git" / "config").read_text(encoding="utf-8")


def test_destination_inside_a_repository_gets_no_nested_one(template: Path, tmp_path: Path) -> None:
    """Rendering into a monorepo leaves committing to its owner."""
    monorepo = tmp_path / "monorepo"
    monorepo.mkdir()
    git(monorepo, "init", "--quiet")
    project = monorepo / "services" / "service"
    project.parent.mkdir(parents=True)

    result = render(template, project)

    assert "Already inside the git repository" in result.stdout
    assert not (project / ".git").exists()
    assert (project / ".env").is_file()


def test_placeholders_get_fresh_secrets_shared_by_name() -> None:
    """Bare placeholders differ from each other; named ones agree; comments stay as written."""
    example = (
        "# Values spelled CHANGE_ME get a generated secret.\n"
        "A=CHANGE_ME\n"
        "B=CHANGE_ME\n"
        "DB_PASSWORD=CHANGE_ME_DB\n"
        "DB_URL=postgresql://app:CHANGE_ME_DB@db:5432/app\n"
        "PLAIN=value\n"
    )
    lines = fill_placeholders(example).splitlines()

    assert lines[0] == "# Values spelled CHANGE_ME get a generated secret."
    a, b = lines[1].removeprefix("A="), lines[2].removeprefix("B=")
    assert re.fullmatch(GENERATED, a)
    assert re.fullmatch(GENERATED, b)
    assert a != b
    password = lines[3].removeprefix("DB_PASSWORD=")
    assert re.fullmatch(GENERATED, password)
    assert lines[4] == f"DB_URL=postgresql://app:{password}@db:5432/app"
    assert lines[5] == "PLAIN=value"
    assert fill_placeholders(example) != fill_placeholders(example)


def test_missing_variables_are_listed_in_example_order() -> None:
    """Variables set in the example but not in .env are named; comments are not variables."""
    example = "# X=1\nA=1\nB=CHANGE_ME\nC=3\n"
    assert missing_variables("C=30\n# A=1\n", example) == ["A", "B"]
    assert missing_variables("A=1\nB=s\nC=3\n", example) == []


RENAMES = [
    Rename(Version("0.2.0"), "log_backend", "logging_backend"),
    Rename(Version("0.3.0"), "db", "database"),
]


def test_only_renames_released_in_the_update_range_apply() -> None:
    """Updating 0.1.0 -> 0.2.0 applies the 0.2.0 rename and not the later one."""
    assert applicable(RENAMES, Version("0.1.0"), Version("0.2.0")) == RENAMES[:1]
    assert applicable(RENAMES, Version("0.2.0"), Version("0.3.0")) == RENAMES[1:]
    assert applicable(RENAMES, Version("0.3.0"), Version("0.4.0")) == []


def test_answer_rename_keeps_layout_and_an_explicit_new_answer() -> None:
    """The old key is renamed in place; an answer already given under the new name wins."""
    answers = "# comment\n_commit: v0.1.0\nlog_backend: loguru\nlog_backend_extra: x\n"
    renamed, report = rename_answers(answers, RENAMES)
    assert renamed == "# comment\n_commit: v0.1.0\nlogging_backend: loguru\nlog_backend_extra: x\n"
    assert report == ["renamed answer 'log_backend' to 'logging_backend' (0.2.0)"]

    both = "log_backend: loguru\nlogging_backend: structlog\n"
    unchanged, report = rename_answers(both, RENAMES)
    assert unchanged == both
    assert report == ["kept 'log_backend': 'logging_backend' is already answered"]
