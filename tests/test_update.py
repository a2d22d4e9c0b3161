"""``copier update`` from an older tagged version of the template, and answer changes.

Each test builds its template versions in a scratch git repository from this checkout's files,
tags them (PEP 440 versions), renders the older one and updates, as a service owner would.
"""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path

import pytest
import yaml

from tests.projects import project_env, run
from tests.update_support import (
    commit_all,
    copier,
    copy_checkout,
    git,
    init_template_repo,
    leftovers,
    render,
    tool,
    tree,
)

README = "README.md"
OWNERS_LINE = "Owned by the payments team; page #payments-oncall when /health fails."
TEMPLATES_LINE = "Template v0.2.0 added this line to the README."
# Files that differ between two renders by design: git history and the generated secrets.
NOT_RENDERED = (".git", ".env")


def update(project: Path, *extra: str) -> str:
    """Run ``copier update`` in ``project`` with default answers; return its output."""
    result = copier("update", "--trust", "--defaults", *extra, cwd=project)
    return result.stdout + result.stderr


def answers(project: Path) -> str:
    """Return the project's answers file."""
    return (project / ".copier-answers.yml").read_text(encoding="utf-8")


def test_update_brings_template_change_and_keeps_owners_edit(tmp_path: Path) -> None:
    """Non-overlapping edits by the owner and the template both survive, with no conflict."""
    template = init_template_repo(tmp_path / "template", tag="v0.1.0")
    project = tmp_path / "service"
    render(template, project, ref="v0.1.0")
    assert git(project, "status", "--porcelain") == "", "the post-render task commits the render"

    readme = (project / README).read_text(encoding="utf-8").splitlines(keepends=True)
    assert len(readme) >= 10, "the README must be long enough for edits 3+ lines apart"
    readme.insert(1, f"\n{OWNERS_LINE}\n")
    (project / README).write_text("".join(readme), encoding="utf-8")
    commit_all(project, "Say who owns the service")

    readme_template = template / "template" / "README.md.jinja"
    with readme_template.open("a", encoding="utf-8") as handle:
        handle.write(f"\n{TEMPLATES_LINE}\n")
    commit_all(template, "Template v0.2.0", tag="v0.2.0")

    env_before = (project / ".env").read_bytes()

    output = update(project)

    # The post-render task ran once, in the project, not in copier's scratch copies.
    assert output.count("Template update applied") == 1, output
    assert (project / ".env").read_bytes() == env_before
    updated = (project / README).read_text(encoding="utf-8")
    assert TEMPLATES_LINE in updated, output
    assert OWNERS_LINE in updated, output
    assert leftovers(project) == [], output
    assert re.search(r"^_commit: v0\.2\.0$", answers(project), re.MULTILINE)

    # The updated project still passes its own checks.
    env = project_env("3.12")
    for argv in (
        ("uv", "sync"),
        ("uv", "run", "ruff", "check", "."),
        ("uv", "run", "ruff", "format", "--check", "."),
        ("uv", "run", "mypy"),
        ("uv", "run", "pytest", "-W", "error", "-q", "-p", "no:cacheprovider"),
    ):
        result = run(argv, project, env)
        assert result.ok, result.explain()


@pytest.mark.parametrize("conflict", ["inline", "rej"])
def test_overlapping_edits_are_left_for_the_owner_and_blocked_by_the_hooks(
    tmp_path: Path, conflict: str
) -> None:
    """When both sides change the same line, the update marks it and commits are blocked.

    ``inline`` leaves conflict markers, which the rendered pre-commit config's
    check-merge-conflict hook refuses; ``rej`` leaves a ``.rej`` file, which its
    no-rej-files hook refuses by name.
    """
    template = init_template_repo(tmp_path / "template", tag="v0.1.0")
    project = tmp_path / "service"
    render(template, project, ref="v0.1.0")
    readme = project / README
    lines = readme.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[0] = "# Payments API\n"
    readme.write_text("".join(lines), encoding="utf-8")
    commit_all(project, "Rename the service in its README")

    readme_template = template / "template" / "README.md.jinja"
    text = readme_template.read_text(encoding="utf-8")
    readme_template.write_text(
        text.replace("# {{ project_name }}", "# {{ project_name }} service"),
        encoding="utf-8",
    )
    commit_all(template, "Template v0.2.0", tag="v0.2.0")

    update(project, f"--conflict={conflict}")

    found = leftovers(project)
    if conflict == "inline":
        assert found == [README]
        hook = run((tool("check-merge-conflict"), "--assume-in-merge", README), project, os.environ)
        assert not hook.ok, hook.explain()
    else:
        assert found == [f"{README}.rej"]
        config = yaml.safe_load((project / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
        hooks = {hook["id"]: hook for repo in config["repos"] for hook in repo["hooks"]}
        assert re.search(hooks["no-rej-files"]["files"], found[0])


def rename_question(template: Path, old: str, new: str) -> None:
    """Rewrite the template repo as if question ``old`` had been called ``new``."""
    for path in [template / "copier.yml", *(template / "template").rglob("*")]:
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            path.write_text(text.replace(old, new), encoding="utf-8")
    for path in sorted((template / "template").rglob(f"*{old}*"), reverse=True):
        path.rename(path.with_name(path.name.replace(old, new)))


@pytest.mark.parametrize("with_migration", [True, False], ids=["migrated", "unmigrated"])
def test_migration_carries_a_renamed_answer(tmp_path: Path, *, with_migration: bool) -> None:
    """v0.1.0 called the question ``log_backend``; v0.2.0 renamed it ``logging_backend``.

    With the rename listed for 0.2.0 the owner's answer (loguru) survives the update and the
    project equals a fresh v0.2.0 render with that answer. Without it, copier would silently
    fall back to the default: the control case shows the migration is what keeps the answer.
    """
    template = tmp_path / "template"
    copy_checkout(template)
    rename_question(template, "logging_backend", "log_backend")
    git(template, "init", "--quiet", "--initial-branch=main")
    commit_all(template, "Template v0.1.0: the question is log_backend", tag="v0.1.0")

    project = tmp_path / "service"
    render(template, project, ref="v0.1.0", data={"log_backend": "loguru"})
    assert re.search(r"^log_backend: loguru$", answers(project), re.MULTILINE)

    for path in (template / "template").rglob("*"):
        if path.is_file():
            path.unlink()
    copy_checkout(template)
    renames_file = template / "hooks" / "answer_renames.json"
    renames = json.loads(renames_file.read_text(encoding="utf-8"))
    if with_migration:
        renames["renames"].append(
            {"version": "0.2.0", "old": "log_backend", "new": "logging_backend"}
        )
    renames_file.write_text(json.dumps(renames, indent=2), encoding="utf-8")
    commit_all(template, "Template v0.2.0: rename log_backend to logging_backend", tag="v0.2.0")

    output = update(project)

    assert "log_backend:" not in answers(project)
    expected = "loguru" if with_migration else "structlog"
    assert re.search(rf"^logging_backend: {expected}$", answers(project), re.MULTILINE), output
    if with_migration:
        assert "renamed answer 'log_backend' to 'logging_backend'" in output
        assert leftovers(project) == [], output
        fresh = tmp_path / "fresh"
        render(template, fresh, ref="v0.2.0", data={"logging_backend": "loguru"})
        assert tree(project, NOT_RENDERED) == tree(fresh, NOT_RENDERED)


@pytest.mark.parametrize("command", ["update", "recopy"])
def test_changing_an_answer_equals_a_fresh_render(tmp_path: Path, command: str) -> None:
    """Switching the logging backend on an existing project gives the fresh-render tree."""
    template = init_template_repo(tmp_path / "template", tag="v0.1.0")
    project = tmp_path / "service"
    render(template, project, ref="v0.1.0", data={"logging_backend": "structlog"})
    before = tree(project, NOT_RENDERED)

    if command == "update":
        update(project, "--data", "logging_backend=loguru")
    else:
        copier(
            "recopy",
            "--trust",
            "--defaults",
            "--overwrite",
            "--data",
            "logging_backend=loguru",
            cwd=project,
        )

    fresh = tmp_path / "fresh"
    render(template, fresh, ref="v0.1.0", data={"logging_backend": "loguru"})
    after = tree(project, NOT_RENDERED)
    assert after != before, "the answer must change the rendered code"
    assert after == tree(fresh, NOT_RENDERED)
    assert leftovers(project) == []


def test_uv_lock_is_committed_so_update_runs_after_install(tmp_path: Path) -> None:
    """The first commit holds uv.lock; ``make install`` changes nothing tracked; update runs."""
    template = init_template_repo(tmp_path / "template", tag="v0.1.0")
    project = tmp_path / "service"
    render(template, project, ref="v0.1.0")
    assert git(project, "ls-files", "uv.lock") == "uv.lock"

    # The Makefile's install target, run as it is written there.
    install = re.search(r"^install:.*\n\t(.+)$", (project / "Makefile").read_text(), re.MULTILINE)
    assert install is not None
    assert install.group(1) == "uv sync --locked"
    synced = run(install.group(1).split(), project, project_env("3.12"))
    assert synced.ok, synced.explain()
    assert git(project, "status", "--porcelain") == ""

    readme_template = template / "template" / "README.md.jinja"
    with readme_template.open("a", encoding="utf-8") as handle:
        handle.write(f"\n{TEMPLATES_LINE}\n")
    commit_all(template, "Template v0.2.0", tag="v0.2.0")

    output = update(project)

    assert TEMPLATES_LINE in (project / README).read_text(encoding="utf-8"), output
    assert leftovers(project) == [], output
    changed = [line.split()[-1] for line in git(project, "status", "--porcelain").splitlines()]
    assert changed == [".copier-answers.yml", README], "uv.lock is unchanged: same dependencies"


def test_changing_the_database_brings_env_in_step(tmp_path: Path) -> None:
    """SQLite -> PostgreSQL through ``copier update``: the service's settings load afterwards."""
    template = init_template_repo(tmp_path / "template", tag="v0.1.0")
    project = tmp_path / "service"
    render(template, project, ref="v0.1.0")
    env_file = project / ".env"
    assert "sqlite" in env_file.read_text(encoding="utf-8")

    output = update(project, "--data", "database=postgresql")

    assert ".env: DATABASE__URL set for postgresql (was sqlite)" in output
    assert ".env: DATABASE_PASSWORD added with a generated secret" in output
    assert ".env: DATABASE__BUSY_TIMEOUT commented out" in output
    env = env_file.read_text(encoding="utf-8")
    password = re.search(r"^DATABASE_PASSWORD=([A-Za-z0-9_-]{43})$", env, re.MULTILINE)
    assert password is not None, env
    assert password.group(1) not in output
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    # docker compose builds the app's URL and the server's password from DATABASE_PASSWORD.
    compose = yaml.safe_load((project / "docker-compose.yml").read_text(encoding="utf-8"))
    assert "${DATABASE_PASSWORD:?" in compose["services"]["db"]["environment"]["POSTGRES_PASSWORD"]
    app_url = compose["services"]["app"]["environment"]["MY_SERVICE_DATABASE__URL"]
    assert "${DATABASE_PASSWORD:?" in app_url

    # The re-locked project installs, and its settings model accepts the rewritten .env.
    env_vars = project_env("3.12")
    for argv in (
        ("uv", "sync", "--locked"),
        (
            "uv",
            "run",
            "python",
            "-c",
            "from my_service.settings import load_settings; "
            "print(load_settings().database.url.get_secret_value().split(':')[0])",
        ),
    ):
        result = run(argv, project, env_vars)
        assert result.ok, result.explain()
    assert result.output.strip().splitlines()[-1] == "postgresql+asyncpg"
