"""The post-render steps: uv.lock, first commit, ``.env``, next steps, and answer migrations.

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
    database_kind,
    fill_placeholders,
    missing_variables,
    next_steps,
    reconcile_env,
    write_private,
)
from tests.update_support import (
    GIT_ENV,
    REPO_ROOT,
    commit_all,
    copier,
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
    assert "uv.lock" in committed, "uv lock runs before the first commit"
    # .env holds secrets: never committed, ignored by git, private to its owner.
    assert git(project, "status", "--porcelain") == ""
    assert git(project, "check-ignore", ".env") == ".env"
    assert stat.S_IMODE((project / ".env").stat().st_mode) == 0o600
    assert_env_from_example(project)
    assert "Next steps:" in result.stdout
    assert "make run applies the migrations in development" in result.stdout  # SQLite default
    assert "WARNING" not in result.stdout


def test_render_without_the_package_index_still_commits(template: Path, tmp_path: Path) -> None:
    """When ``uv lock`` cannot reach the index, the render says so and commits without a lock.

    Offline with an empty cache, uv cannot resolve anything: the same as no network.
    """
    project = tmp_path / "service"
    offline = isolated_env(UV_OFFLINE="1", UV_CACHE_DIR=str(tmp_path / "empty-uv-cache"))

    result = render(template, project, env=offline)

    assert "uv lock failed" in result.stdout
    assert "run `uv lock` in the project later and commit uv.lock" in result.stdout
    assert git(project, "rev-list", "--count", "HEAD") == "1"
    assert not (project / "uv.lock").exists()
    assert git(project, "status", "--porcelain") == ""


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
    assert "uv not found on PATH: uv.lock was not created" in result.stdout
    assert "install uv (https://docs.astral.sh/uv/)" in result.stdout
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


# --- next steps -----------------------------------------------------------------------------

DATABASE_CONFTEST = (
    REPO_ROOT / "template" / "tests" / "{% if database != 'none' %}database{% endif %}"
)
COMPOSE = REPO_ROOT / "template" / "docker-compose.yml.jinja"
#: The per-answer parts of the compose file (the database servers among them).
COMPOSE_FRAGMENTS = REPO_ROOT / "template" / "_fragments" / "compose"


@pytest.mark.parametrize("database", ["postgresql", "mysql", "sqlite", "none"])
def test_next_steps_fit_the_database(tmp_path: Path, database: str) -> None:
    """Each database gets the steps it needs, and every line fits an 80-column terminal."""
    steps = next_steps(tmp_path, "copy", database, "my_service")
    lines = steps.splitlines()

    assert max(len(line) for line in lines[2:]) <= 80, steps  # lines[1] is `cd <path>`
    assert "make install     # uv sync --locked" in steps
    if database in ("postgresql", "mysql"):
        scheme = {"postgresql": "postgresql://postgres@", "mysql": "mysql://root@"}[database]
        url = f"export TEST_DATABASE_URL={scheme}127.0.0.1/my_service_test"
        assert url in steps
        assert "docker run -d -p 127.0.0.1:" in steps
        assert "make migrate" in steps
        assert "make run applies the migrations" not in steps
    elif database == "sqlite":
        assert "make run applies the migrations in development" in steps
        assert "make migrate applies them by hand" in steps
        assert "TEST_DATABASE_URL" not in steps
    else:
        assert not re.search(r"(?i)database|migrat|docker run", steps), steps


def test_next_steps_match_the_rendered_tests_and_compose() -> None:
    """The variable the rendered tests read, and the server images (compose), are the ones named."""
    conftest = (DATABASE_CONFTEST / "conftest.py.jinja").read_text(encoding="utf-8")
    assert 'os.environ.get("TEST_DATABASE_URL")' in conftest
    compose = "".join(
        path.read_text(encoding="utf-8")
        for path in [COMPOSE, *sorted(COMPOSE_FRAGMENTS.glob("*.jinja"))]
    )
    for database in ("postgresql", "mysql"):
        steps = next_steps(Path("p"), "copy", database, "x")
        image = re.search(r"\b(?:postgres|mariadb):[\w.-]+", steps)
        assert image is not None
        assert f"image: {image.group()}\n" in compose


# --- .env brought in step -------------------------------------------------------------------

PREFIX = "MY_SERVICE_"
SQLITE_ENV = (
    "MY_SERVICE_ENVIRONMENT=development\n"
    "MY_SERVICE_DATABASE__URL=sqlite+aiosqlite:///./my_service.db\n"
    "MY_SERVICE_DATABASE__BUSY_TIMEOUT=5.0\n"
    "MY_SERVICE_PAYMENTS__TIMEOUT=3\n"
    "# MY_SERVICE_VERSION=0.1.0\n"
    "EDITOR_THEME=dark\n"
)
POSTGRESQL_EXAMPLE = (
    "# A value spelled CHANGE_ME gets a secret.\n"
    "MY_SERVICE_ENVIRONMENT=production\n"
    "MY_SERVICE_DATABASE__URL=postgresql+asyncpg://postgres@127.0.0.1:5432/my_service\n"
    "MY_SERVICE_DATABASE__POOL_SIZE=20\n"
    "# MY_SERVICE_PAYMENTS__TIMEOUT=5\n"
    "DATABASE_PASSWORD=CHANGE_ME_DATABASE_PASSWORD\n"
)


def test_switching_sqlite_to_postgresql_rewrites_what_became_invalid() -> None:
    """New URL kind, new secret, dropped setting commented out; the rest kept as it was."""
    update = reconcile_env(SQLITE_ENV, POSTGRESQL_EXAMPLE, PREFIX)
    lines = update.text.splitlines()

    assert lines[0] == "MY_SERVICE_ENVIRONMENT=development"  # the owner's value, still valid
    assert (
        lines[1]
        == "MY_SERVICE_DATABASE__URL=postgresql+asyncpg://postgres@127.0.0.1:5432/my_service"
    )
    assert lines[2].startswith("# No longer a setting")
    assert lines[3] == "# MY_SERVICE_DATABASE__BUSY_TIMEOUT=5.0"
    assert lines[4:7] == SQLITE_ENV.splitlines()[3:]  # documented, comment, unprefixed: kept
    password = lines[-1].removeprefix("DATABASE_PASSWORD=")
    assert re.fullmatch(GENERATED, password)
    assert update.changes == [
        "DATABASE__URL set for postgresql (was sqlite)",
        "DATABASE__BUSY_TIMEOUT commented out (.env.example no longer has it)",
        "DATABASE_PASSWORD added with a generated secret",
    ]
    assert password not in "".join(update.changes)
    # A second pass finds nothing left to change.
    assert reconcile_env(update.text, POSTGRESQL_EXAMPLE, PREFIX).changes == []


def test_a_url_embedding_a_named_secret_shares_it() -> None:
    """``DATABASE_PASSWORD`` and a URL holding ``CHANGE_ME_DATABASE_PASSWORD`` agree."""
    example = (
        "MY_SERVICE_DATABASE__URL=postgresql://app:CHANGE_ME_DATABASE_PASSWORD@db/app\n"
        "DATABASE_PASSWORD=CHANGE_ME_DATABASE_PASSWORD\n"
    )
    fresh = assignments_of(
        reconcile_env("MY_SERVICE_DATABASE__URL=sqlite:///x.db\n", example, PREFIX).text
    )
    assert re.fullmatch(GENERATED, fresh["DATABASE_PASSWORD"])
    assert (
        fresh["MY_SERVICE_DATABASE__URL"] == f"postgresql://app:{fresh['DATABASE_PASSWORD']}@db/app"
    )

    # The password .env already holds is the one the new URL gets.
    owners = "kept-value"
    env = f"DATABASE_PASSWORD={owners}\nMY_SERVICE_DATABASE__URL=mysql://root@h/app\n"
    kept = assignments_of(reconcile_env(env, example, PREFIX).text)
    assert kept["DATABASE_PASSWORD"] == owners
    assert kept["MY_SERVICE_DATABASE__URL"] == f"postgresql://app:{owners}@db/app"


def test_a_url_of_the_same_kind_and_an_unchanged_env_are_left_alone() -> None:
    """The owner's own server (same kind, other host or driver spelling) is not replaced."""
    env = (
        "MY_SERVICE_DATABASE__URL=postgres://svc:pw@db.internal/svc\n"
        "MY_SERVICE_DATABASE__POOL_SIZE=60\n"
        "DATABASE_PASSWORD=p\n"
        "MY_SERVICE_ENVIRONMENT=test"  # no final newline
    )
    update = reconcile_env(env, POSTGRESQL_EXAMPLE, PREFIX)
    assert update.changes == []
    assert update.text == env


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("sqlite+aiosqlite:///./x.db", "sqlite"),
        ("postgres://u@h/d", "postgresql"),
        ('"postgresql+asyncpg://u@h/d"', "postgresql"),
        ("mariadb+asyncmy://u@h/d", "mysql"),
        ("mysql://u@h/d", "mysql"),
        ("not a url", ""),
    ],
)
def test_database_kind_is_the_scheme_before_the_driver(url: str, kind: str) -> None:
    """Aliases of one server name one kind; the driver does not matter."""
    assert database_kind(url) == kind


def test_env_is_replaced_atomically_and_privately(tmp_path: Path) -> None:
    """The rewritten ``.env`` is readable by its owner only, and no temporary file remains."""
    path = tmp_path / ".env"
    path.write_text("OLD=1\n", encoding="utf-8")
    path.chmod(0o644)

    write_private(path, "NEW=2\n")

    assert path.read_text(encoding="utf-8") == "NEW=2\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [child.name for child in tmp_path.iterdir()] == [".env"]


def assignments_of(text: str) -> dict[str, str]:
    """Map ``NAME=value`` lines of ``text`` to their values (comments skipped)."""
    return dict(
        line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#")
    )


# --- recopy ---------------------------------------------------------------------------------


def recopy(project: Path) -> str:
    """Run ``copier recopy`` in ``project`` with its answers; return what it printed."""
    result = copier("recopy", "--trust", "--defaults", "--overwrite", cwd=project)
    return result.stdout + result.stderr


def test_recopy_names_the_files_whose_edits_it_replaced(template: Path, tmp_path: Path) -> None:
    """An owner's committed README edit is overwritten by recopy, and the warning says so."""
    project = tmp_path / "service"
    render(template, project)
    readme = project / "README.md"
    readme.write_text(readme.read_text(encoding="utf-8") + "\nOwner's note.\n", encoding="utf-8")
    commit_all(project, "Owner's README note")

    output = recopy(project)

    assert "Owner's note." not in readme.read_text(encoding="utf-8")
    assert "WARNING: recopy rendered the template over these tracked files" in output
    listed = re.search(r"working tree:\n((?:  \S.*\n)+)", output)
    assert listed is not None, output
    assert listed.group(1) == "  README.md\n"
    assert "git checkout -p -- <file>" in output
    assert git(project, "diff", "--name-only") == "README.md"


def test_recopy_without_owner_edits_warns_of_nothing(template: Path, tmp_path: Path) -> None:
    """A recopy that changes no tracked file prints no warning."""
    project = tmp_path / "service"
    render(template, project)

    output = recopy(project)

    assert "WARNING" not in output
    assert git(project, "status", "--porcelain") == ""
