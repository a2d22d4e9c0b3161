"""Finish a rendered service: git repository, ``.env`` with fresh secrets, next steps.

Copier runs this script as a ``_task`` after ``copier copy``, ``copier recopy`` and
``copier update``, with the rendered project as the working directory. It must never break a
render: a missing optional tool (git, uv) or a failing git command is reported and skipped, and
the script still exits 0. It needs no network.

During ``copier update`` copier also renders the old and the new template version into
temporary directories and runs the tasks there. Those copies are not inside a git work tree,
whereas the project being updated always is (copier refuses to update anything else), so on
update the script acts only inside a git work tree and never creates a repository.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ENV_FILE = ".env"
ENV_EXAMPLE_FILE = ".env.example"

# A value (or part of a value) spelled CHANGE_ME is replaced by a fresh secret. CHANGE_ME_<NAME>
# gets one secret per NAME, so two settings that must agree (a database password and the URL
# that embeds it) can share it; a bare CHANGE_ME gets a new secret at each occurrence.
PLACEHOLDER = re.compile(r"\bCHANGE_ME(?:_(?P<name>[A-Z0-9_]+))?\b")
SECRET_BYTES = 32

FALLBACK_NAME = "FastAPI service template"
FALLBACK_EMAIL = "template@example.invalid"


def say(message: str) -> None:
    """Tell the person running copier what happened; tasks share copier's terminal."""
    sys.stdout.write(f"{message}\n")
    sys.stdout.flush()


@dataclass(frozen=True)
class GitResult:
    """Outcome of one git command: success flag and its combined, stripped output."""

    ok: bool
    output: str


def run_git(args: list[str], cwd: Path) -> GitResult:
    """Run git without a shell and without a terminal prompt; never raise on failure."""
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    try:
        completed = subprocess.run(
            ["git", *args],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except OSError as error:
        return GitResult(ok=False, output=str(error))
    output = (completed.stdout + completed.stderr).strip()
    return GitResult(ok=completed.returncode == 0, output=output)


def git_toplevel(path: Path) -> Path | None:
    """Return the root of the git work tree containing ``path``, or None outside one."""
    result = run_git(["rev-parse", "--show-toplevel"], path)
    return Path(result.output) if result.ok and result.output else None


def has_identity(path: Path) -> bool:
    """Whether git can name the author and committer without guessing from the host name."""

    def configured(key: str) -> bool:
        result = run_git(["config", "--get", key], path)
        return result.ok and bool(result.output)

    def from_env(*names: str) -> bool:
        return all(os.environ.get(name) for name in names)

    name_known = configured("user.name") or from_env("GIT_AUTHOR_NAME", "GIT_COMMITTER_NAME")
    email_known = (
        configured("user.email")
        or from_env("GIT_AUTHOR_EMAIL", "GIT_COMMITTER_EMAIL")
        or from_env("EMAIL")
    )
    return name_known and email_known


def init_repository(destination: Path, template_ref: str) -> bool:
    """Create a git repository with a first commit of the rendered files.

    Skips, saying why, when git is missing or the destination is already inside a repository
    (for example a monorepo). Returns whether a commit was made.
    """
    if shutil.which("git") is None:
        say("git not found on PATH: skipped creating a repository. Run `git init` later.")
        return False
    toplevel = git_toplevel(destination)
    if toplevel is not None:
        say(f"Already inside the git repository {toplevel}: not creating another one.")
        return False
    init_args = ["init", "--quiet"]
    if not run_git(["config", "--get", "init.defaultBranch"], destination).ok:
        init_args.append("--initial-branch=main")
    steps: list[tuple[str, list[str]]] = [("git init", init_args), ("git add", ["add", "--all"])]
    for label, args in steps:
        result = run_git(args, destination)
        if not result.ok:
            say(f"{label} failed, no first commit was made:\n{result.output}")
            return False
    identity: list[str] = []
    if not has_identity(destination):
        identity = ["-c", f"user.name={FALLBACK_NAME}", "-c", f"user.email={FALLBACK_EMAIL}"]
        say(
            "git user.name/user.email are not set: the first commit uses the placeholder "
            f'identity "{FALLBACK_NAME} <{FALLBACK_EMAIL}>" (only for that commit). '
            "Set yours with `git config --global user.name ...` and `user.email ...`, then "
            "`git commit --amend --reset-author --no-edit` if you want it on the first commit."
        )
    message = f"Render the service from the FastAPI service template ({template_ref})"
    result = run_git([*identity, "commit", "--quiet", "-m", message], destination)
    if not result.ok:
        say(f"git commit failed; the rendered files are staged but not committed:\n{result.output}")
        return False
    say(f"Created a git repository with a first commit in {destination}.")
    return True


def fill_placeholders(example: str) -> str:
    """Return ``example`` with every CHANGE_ME placeholder replaced by a fresh secret."""
    named: dict[str, str] = {}

    def secret_for(match: re.Match[str]) -> str:
        name = match.group("name")
        if name is None:
            return secrets.token_urlsafe(SECRET_BYTES)
        return named.setdefault(name, secrets.token_urlsafe(SECRET_BYTES))

    lines = []
    for line in example.splitlines(keepends=True):
        # Comments document the placeholder convention itself; only assignments get secrets.
        if line.lstrip().startswith("#"):
            lines.append(line)
        else:
            lines.append(PLACEHOLDER.sub(secret_for, line))
    return "".join(lines)


def create_env_file(destination: Path) -> bool:
    """Write ``.env`` from ``.env.example`` with fresh secrets; never overwrite an existing one.

    The file is created exclusively and readable by its owner only, because it holds secrets.
    Returns whether a file was written.
    """
    env_path = destination / ENV_FILE
    example_path = destination / ENV_EXAMPLE_FILE
    if env_path.exists():
        say(f"Kept the existing {ENV_FILE} (it is never overwritten).")
        return False
    if not example_path.is_file():
        say(f"No {ENV_EXAMPLE_FILE} in the project: no {ENV_FILE} was created.")
        return False
    content = fill_placeholders(example_path.read_text(encoding="utf-8"))
    try:
        descriptor = os.open(env_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        say(f"Kept the existing {ENV_FILE} (it is never overwritten).")
        return False
    with os.fdopen(descriptor, "w", encoding="utf-8") as env_file:
        env_file.write(content)
    say(f"Created {ENV_FILE} from {ENV_EXAMPLE_FILE} with freshly generated secrets.")
    return True


ASSIGNMENT = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)=", re.MULTILINE)


def missing_variables(env: str, example: str) -> list[str]:
    """Return the variables set in ``example`` that ``env`` does not set, in file order.

    After an update the template's ``.env.example`` may document settings the owner's ``.env``
    predates; those take their defaults, except secrets, which the owner must add.
    """
    present = set(ASSIGNMENT.findall(env))
    return [name for name in ASSIGNMENT.findall(example) if name not in present]


def report_missing_variables(destination: Path) -> None:
    """Name the settings ``.env.example`` sets that the existing ``.env`` lacks."""
    env_path, example_path = destination / ENV_FILE, destination / ENV_EXAMPLE_FILE
    if not (env_path.is_file() and example_path.is_file()):
        return
    missing = missing_variables(
        env_path.read_text(encoding="utf-8"), example_path.read_text(encoding="utf-8")
    )
    if missing:
        say(
            f"{ENV_EXAMPLE_FILE} sets variables your {ENV_FILE} does not (they take their "
            f"defaults; add any CHANGE_ME secret yourself): {', '.join(missing)}"
        )


def warn_if_env_tracked(destination: Path) -> None:
    """Say so when git would commit ``.env``: it holds secrets and must stay ignored."""
    if shutil.which("git") is None or git_toplevel(destination) is None:
        return
    if not run_git(["check-ignore", "--quiet", ENV_FILE], destination).ok:
        say(f"WARNING: {ENV_FILE} is not ignored by git; add it to .gitignore, it holds secrets.")


def next_steps(destination: Path, operation: str) -> str:
    """Return the commands a developer runs next, adapted to the tools on this machine."""
    if operation == "update":
        return "\n".join(
            [
                "Template update applied. Next:",
                "  git status && git diff        # review what the template changed",
                "  look for *.rej files and <<<<<<< markers, resolve them, then delete the .rej",
                "  make check                    # lint, type check and tests",
            ]
        )
    lines = ["Next steps:", f"  cd {destination}"]
    if shutil.which("uv") is None:
        lines.append("  install uv (https://docs.astral.sh/uv/), it was not found on PATH")
    lines += [
        "  make install                  # uv sync: the service and its dev tools",
        "  make check                    # lint, format check, type check, tests",
        "  make run                      # serve on http://127.0.0.1:8000 (GET /health)",
        "  make docker-up                # or run it with docker compose",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the post-render steps for a copy (or recopy) or an update."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--operation", choices=("copy", "update"), default="copy")
    parser.add_argument("--template-ref", default="unknown version")
    args = parser.parse_args(argv)
    destination = Path.cwd().resolve()
    operation: str = args.operation

    if operation == "update" and (shutil.which("git") is None or git_toplevel(destination) is None):
        # One of copier's scratch copies of the old or new template version: nothing to do.
        return 0
    if operation == "copy":
        # Commit before .env exists, so the first commit can never contain secrets.
        init_repository(destination, args.template_ref)
    try:
        if not create_env_file(destination):
            report_missing_variables(destination)
    except (OSError, UnicodeError) as error:
        say(f"Could not create {ENV_FILE}: {error}. Copy {ENV_EXAMPLE_FILE} by hand.")
    warn_if_env_tracked(destination)
    say(next_steps(destination, operation))
    return 0


if __name__ == "__main__":
    sys.exit(main())
