"""Finish a rendered service: ``uv.lock``, git repository, ``.env`` with fresh secrets, next steps.

Copier runs this script with the rendered project as the working directory:

- as a ``_task`` after ``copier copy`` and ``copier recopy`` (``--operation=copy``: copier's
  ``_copier_operation`` is "copy" for a recopy too, so a recopy is recognised by the git work
  tree already there);
- as an "after" ``_migration`` of ``copier update`` (``--operation=update``). Not as a task:
  copier runs the tasks in the middle of an update, after rendering the new template version
  over the project but before merging the owner's edits back, so ``pyproject.toml`` and
  ``.env.example`` would not be the final ones yet. The "after" migrations run at the very end.

It must never break a render: a missing optional tool (git, uv), a failing git command or an
unreachable package index (``uv lock`` needs it) is reported and skipped, and the script still
exits 0. It never prints a secret.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
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


# --- uv.lock ------------------------------------------------------------------------------------

#: Longest ``uv lock`` may take (it reaches the package index) before the render goes on without.
LOCK_TIMEOUT_S = 300


def lock_dependencies(destination: Path) -> bool:
    """Resolve the dependencies into ``uv.lock``, so the first commit (and an update) carries it.

    The rendered CI (``uv sync --locked``), the Dockerfile (``COPY uv.lock``) and ``make install``
    all need a lock that matches ``pyproject.toml``. Resolving needs the package index: when uv is
    missing, offline or fails, say so in one line with the command to run later, never fail.
    """
    later = "run `uv lock` in the project later and commit uv.lock"
    uv = shutil.which("uv")
    if uv is None:
        say(f"uv not found on PATH: uv.lock was not created; install uv, then {later}.")
        return False
    try:
        completed = subprocess.run(
            [uv, "lock", "--quiet"],
            cwd=destination,
            capture_output=True,
            text=True,
            check=False,
            stdin=subprocess.DEVNULL,
            timeout=LOCK_TIMEOUT_S,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        say(f"uv lock did not finish ({type(error).__name__}): {later}.")
        return False
    if completed.returncode != 0:
        last_line = (completed.stderr.strip().splitlines() or ["no output"])[-1]
        say(f"uv lock failed ({last_line.strip()}): {later}.")
        return False
    return True


# --- recopy -------------------------------------------------------------------------------------


def replaced_files(destination: Path, answers_file: str) -> list[str]:
    """Return the tracked files under ``destination`` whose content differs from the last commit.

    Called after a copy into an existing git work tree (``copier recopy``, or ``copier copy``
    over a project): copier rendered the template over those files, discarding whatever the
    owner had changed in them. The answers file is copier's own record, rewritten every time.
    """
    if not run_git(["rev-parse", "--verify", "--quiet", "HEAD"], destination).ok:
        return []
    result = run_git(
        ["-c", "core.quotePath=false", "diff", "--name-only", "--relative", "HEAD", "--", "."],
        destination,
    )
    if not result.ok:
        return []
    return [name for name in result.output.splitlines() if name and name != answers_file]


def warn_about_replaced_files(names: list[str]) -> None:
    """Warn, naming the files, that the template's version replaced the owner's in them."""
    if not names:
        return
    listing = "\n".join(f"  {name}" for name in names)
    say(
        "WARNING: recopy rendered the template over these tracked files, which now differ\n"
        "from your last commit; edits of yours in them are gone from the working tree:\n"
        f"{listing}\n"
        "Review with `git diff`. Take your edits back hunk by hunk with\n"
        "`git checkout -p -- <file>`, or a whole file with `git restore <file>`."
    )


# --- .env ---------------------------------------------------------------------------------------


def fill_placeholders(example: str, named: dict[str, str] | None = None) -> str:
    """Return ``example`` with every CHANGE_ME placeholder replaced by a fresh secret.

    ``named`` maps a placeholder's NAME to the secret it stands for; missing names get a fresh
    secret, added to the mapping so later lines (or later calls) share it.
    """
    shared = {} if named is None else named

    def secret_for(match: re.Match[str]) -> str:
        name = match.group("name")
        if name is None:
            return secrets.token_urlsafe(SECRET_BYTES)
        return shared.setdefault(name, secrets.token_urlsafe(SECRET_BYTES))

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
        say(f"Kept the existing {ENV_FILE} (it is never overwritten, only brought in step).")
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


# One assignment line of a dotenv file, as python-dotenv reads it (``export`` allowed).
ASSIGNMENT_LINE = re.compile(
    r"^(?P<lead>\s*(?:export\s+)?)(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*=\s*(?P<value>.*?)\s*$"
)
# A commented-out assignment: how .env.example documents a setting that is derived when unset.
DOCUMENTED = re.compile(r"^\s*#\s*(?:export\s+)?(?P<name>[A-Za-z_][A-Za-z0-9_]*)=")
CONFLICT_MARKER = re.compile(r"^(?:<<<<<<<|=======|>>>>>>>)(?:\s|$)", re.MULTILINE)
# Database URL schemes that name the same kind of server.
DATABASE_KIND_ALIASES = {"postgres": "postgresql", "mariadb": "mysql"}


def assignments(text: str) -> dict[str, str]:
    """Map each variable a dotenv text sets to its value (unquoted); the last assignment wins."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        match = ASSIGNMENT_LINE.match(line)
        if match is not None:
            values[match["name"]] = unquote(match["value"])
    return values


def documented_names(example: str) -> set[str]:
    """Return the variables ``example`` sets or documents as a ``# NAME=`` comment."""
    names = set(assignments(example))
    names.update(
        match["name"] for line in example.splitlines() if (match := DOCUMENTED.match(line))
    )
    return names


def unquote(value: str) -> str:
    """Return ``value`` without one pair of surrounding single or double quotes."""
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def database_kind(url: str) -> str:
    """Return the kind of server a database URL names: its scheme before ``+`` or ``:``."""
    match = re.match(r"\s*([A-Za-z][A-Za-z0-9.-]*)[+:]", unquote(url.strip()))
    if match is None:
        return ""
    scheme = match.group(1).lower()
    return DATABASE_KIND_ALIASES.get(scheme, scheme)


def known_secrets(env_values: dict[str, str], example_values: dict[str, str]) -> dict[str, str]:
    """Map placeholder names to the secrets ``.env`` already holds for them.

    A variable whose example value is exactly ``CHANGE_ME_<NAME>`` (``DATABASE_PASSWORD``) holds
    the secret NAME stands for; a URL added later that embeds the same placeholder must reuse it.
    """
    named: dict[str, str] = {}
    for variable, value in example_values.items():
        match = PLACEHOLDER.fullmatch(value)
        if match is not None and match["name"] and env_values.get(variable):
            named[match["name"]] = env_values[variable]
    return named


@dataclass
class EnvUpdate:
    """``.env`` brought in step with ``.env.example``, and one line per change (no values)."""

    text: str
    changes: list[str] = field(default_factory=list)


def line_ending(line: str) -> str:
    """Return the line break ``line`` ends with (a newline when it has none: a last line)."""
    stripped = line.rstrip("\r\n")
    return line[len(stripped) :] or "\n"


def reconcile_env(env: str, example: str, prefix: str) -> EnvUpdate:
    """Rewrite what an answer change made invalid in ``env``, given the new ``example``.

    After ``copier update -d database=postgresql`` the owner's ``.env`` still holds the old
    answers' settings. Three rules, touching nothing else (and variables without ``prefix``
    only to add a missing secret):

    - a variable whose example value holds a CHANGE_ME placeholder and that ``env`` lacks is
      appended with a fresh secret, shared by name with the other placeholders;
    - ``<prefix>DATABASE__URL`` naming another kind of database than the example's is replaced
      by the example's value;
    - a ``<prefix>`` setting the example neither sets nor documents is commented out, with a
      note: kept for the owner to read, but no longer in force.
    """
    example_values = assignments(example)
    documented = documented_names(example)
    env_values = assignments(env)
    named = known_secrets(env_values, example_values)
    url_variable = f"{prefix}DATABASE__URL"
    update = EnvUpdate(text="")
    lines: list[str] = []
    for line in env.splitlines(keepends=True):
        match = ASSIGNMENT_LINE.match(line.rstrip("\r\n"))
        name = match["name"] if match is not None else ""
        short = name.removeprefix(prefix)
        if match is None or not name.startswith(prefix):
            lines.append(line)
        elif name not in documented:
            ending = line_ending(line)
            lines.append(f"# No longer a setting ({ENV_EXAMPLE_FILE} dropped it):{ending}")
            lines.append(f"# {line.rstrip(chr(13) + chr(10))}{ending}")
            update.changes.append(f"{short} commented out ({ENV_EXAMPLE_FILE} no longer has it)")
        elif name == url_variable and name in example_values:
            old, new = database_kind(match["value"]), database_kind(example_values[name])
            if old == new:
                lines.append(line)
                continue
            value = fill_placeholders(example_values[name], named)
            lines.append(f"{match['lead']}{name}={value}{line_ending(line)}")
            update.changes.append(f"{short} set for {new} (was {old or 'not a database URL'})")
        else:
            lines.append(line)
    added = [
        f"{name}={fill_placeholders(value, named)}\n"
        for name, value in example_values.items()
        if name not in env_values and PLACEHOLDER.search(value)
    ]
    if added:
        if lines and not lines[-1].endswith("\n"):
            lines[-1] += "\n"
        lines.append("\n# Added after a template update, with generated secrets:\n")
        lines.extend(added)
        update.changes.extend(
            f"{line.split('=', 1)[0].removeprefix(prefix)} added with a generated secret"
            for line in added
        )
    update.text = "".join(lines)
    return update


def write_private(path: Path, content: str) -> None:
    """Replace ``path`` with ``content`` atomically, readable by its owner only (mode 0600).

    A crash half-way leaves either the old file or the new one, never a truncated ``.env``.
    """
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f"{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            os.fchmod(handle.fileno(), 0o600)
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def bring_env_in_step(destination: Path, prefix: str) -> None:
    """Apply :func:`reconcile_env` to the project's ``.env`` and say what changed."""
    env_path, example_path = destination / ENV_FILE, destination / ENV_EXAMPLE_FILE
    if not (env_path.is_file() and example_path.is_file()):
        return
    example = example_path.read_text(encoding="utf-8")
    if CONFLICT_MARKER.search(example):
        say(
            f"{ENV_EXAMPLE_FILE} has merge conflicts: {ENV_FILE} was left as it is; resolve "
            f"them, then compare the two files by hand."
        )
        return
    update = reconcile_env(env_path.read_text(encoding="utf-8"), example, prefix)
    if not update.changes:
        return
    write_private(env_path, update.text)
    for change in update.changes:
        say(f"{ENV_FILE}: {change}")


def missing_variables(env: str, example: str) -> list[str]:
    """Return the variables set in ``example`` that ``env`` does not set, in file order.

    After an update the template's ``.env.example`` may document settings the owner's ``.env``
    predates; those take their defaults (missing secrets were added by bring_env_in_step).
    """
    present = assignments(env)
    return [name for name in assignments(example) if name not in present]


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
            f"defaults): {', '.join(missing)}"
        )


def warn_if_env_tracked(destination: Path) -> None:
    """Say so when git would commit ``.env``: it holds secrets and must stay ignored."""
    if shutil.which("git") is None or git_toplevel(destination) is None:
        return
    if not run_git(["check-ignore", "--quiet", ENV_FILE], destination).ok:
        say(f"WARNING: {ENV_FILE} is not ignored by git; add it to .gitignore, it holds secrets.")


# --- next steps ---------------------------------------------------------------------------------


def server_steps(database: str, package_name: str) -> list[str]:
    """Return the lines that get a database server and the tests' database, for a server kind.

    The server matches the URL in ``.env`` (the server's superuser on 127.0.0.1, no password);
    docker publishes it on the loopback interface only. The compose file's own ``db`` service
    does not publish a port, so it serves the containers, not ``make run`` or the tests.
    """
    test_database = f"{package_name}_test"
    if database == "postgresql":
        return [
            "  This service needs PostgreSQL on 127.0.0.1:5432 as user postgres (see .env);",
            "  one in docker (no password, reachable from this machine only):",
            "    docker run -d -p 127.0.0.1:5432:5432 -e POSTGRES_HOST_AUTH_METHOD=trust \\",
            f"      -e POSTGRES_DB={package_name} postgres:18-alpine",
            "  make check needs TEST_DATABASE_URL, an empty database the tests may change:",
            f"    createdb -h 127.0.0.1 -U postgres {test_database}",
            f"    export TEST_DATABASE_URL=postgresql://postgres@127.0.0.1/{test_database}",
        ]
    return [
        "  This service needs MySQL or MariaDB on 127.0.0.1:3306 as user root (see .env);",
        "  one in docker (no password, reachable from this machine only):",
        f"    docker run -d -p 127.0.0.1:3306:3306 -e MARIADB_DATABASE={package_name} \\",
        "      -e MARIADB_ALLOW_EMPTY_ROOT_PASSWORD=1 mariadb:11.8",
        "  make check needs TEST_DATABASE_URL, an empty database the tests may change:",
        f'    mysql -h 127.0.0.1 -u root -e "CREATE DATABASE {test_database}"',
        f"    export TEST_DATABASE_URL=mysql://root@127.0.0.1/{test_database}",
    ]


def next_steps(destination: Path, operation: str, database: str, package_name: str) -> str:
    """Return the commands a developer runs next, for these answers and this machine's tools."""
    if operation == "update":
        return "\n".join(
            [
                "Template update applied. Next:",
                "  git status && git diff        # review what the template changed",
                "  look for *.rej files and <<<<<<< markers, resolve them, then delete the .rej",
                "  make install                  # uv sync --locked (make lock if it says so)",
                "  make check                    # lint, type check and tests",
            ]
        )
    lines = ["Next steps:", f"  cd {destination}"]
    if shutil.which("uv") is None:
        lines.append("  install uv (https://docs.astral.sh/uv/), it was not found on PATH")
    lines.append("  make install     # uv sync --locked: the service and its dev tools")
    if database in SERVER_DATABASES:
        lines += server_steps(database, package_name)
        lines.append("  make migrate     # apply the migrations to the database in .env")
    elif database == "sqlite":
        lines += [
            "  SQLite needs no server: make run applies the migrations in development;",
            "  make migrate applies them by hand.",
        ]
    lines += [
        "  make check       # lint, format check, type check, tests",
        "  make run         # serve on http://127.0.0.1:8000 (GET /health)",
        "  make docker-up   # or run it with docker compose",
    ]
    return "\n".join(lines)


SERVER_DATABASES = ("postgresql", "mysql")


# --- main ---------------------------------------------------------------------------------------


def parse_args(argv: Iterable[str] | None) -> argparse.Namespace:
    """Read the answers copier passes on the command line (see ``_tasks`` in copier.yml)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--operation", choices=("copy", "update"), default="copy")
    parser.add_argument("--template-ref", default="unknown version")
    parser.add_argument("--database", choices=(*SERVER_DATABASES, "sqlite", "none"), default="none")
    parser.add_argument("--package-name", default="")
    parser.add_argument("--answers-file", default=".copier-answers.yml")
    return parser.parse_args(None if argv is None else list(argv))


def main(argv: Iterable[str] | None = None) -> int:
    """Run the post-render steps for a copy (or recopy) or an update."""
    args = parse_args(argv)
    destination = Path.cwd().resolve()
    operation: str = args.operation
    in_work_tree = shutil.which("git") is not None and git_toplevel(destination) is not None

    if operation == "update" and not in_work_tree:
        # Not the project: copier updates only projects inside a git work tree.
        return 0
    if operation == "copy" and in_work_tree:
        # A recopy (or a copy over a project): before uv.lock changes, name what was replaced.
        warn_about_replaced_files(replaced_files(destination, args.answers_file))
    lock_dependencies(destination)
    if operation == "copy":
        # Commit before .env exists, so the first commit can never contain secrets.
        init_repository(destination, args.template_ref)
    try:
        if not create_env_file(destination):
            if args.package_name:
                bring_env_in_step(destination, f"{args.package_name.upper()}_")
            report_missing_variables(destination)
    except (OSError, UnicodeError) as error:
        say(f"Could not create or update {ENV_FILE}: {error}. Compare it with {ENV_EXAMPLE_FILE}.")
    warn_if_env_tracked(destination)
    say(next_steps(destination, operation, args.database, args.package_name or "my_service"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
