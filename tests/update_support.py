"""Helpers for the tests of copier tasks and ``copier update``: scratch template repos, renders.

The update tests need several tagged versions of the template. They are built inside each test
in a temporary git repository from the files of this checkout (tracked files plus new ones not
yet ignored, as they are in the working tree), so the tests exercise the template being
developed, not a published release. Copier runs as a subprocess through its command line, as a
user runs it, so its tasks see exactly the environment the test gives them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

# A fixed identity and no user or system git configuration: the tests must not depend on (or
# be disturbed by) the git set-up of the machine they run on.
GIT_ENV = {
    "GIT_AUTHOR_NAME": "Template Tests",
    "GIT_AUTHOR_EMAIL": "template-tests@example.invalid",
    "GIT_COMMITTER_NAME": "Template Tests",
    "GIT_COMMITTER_EMAIL": "template-tests@example.invalid",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}

CONFLICT_MARKERS = ("<<<<<<< ", ">>>>>>> ")


def tool(name: str) -> str:
    """Return a command installed next to this interpreter (the template's dev tools)."""
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    assert found is not None, f"{name} is not installed: uv sync the template repo's dev group"
    return found


def isolated_env(**overrides: str) -> dict[str, str]:
    """Return the process environment with git isolated from the machine and ``overrides``."""
    return {**os.environ, **GIT_ENV, **overrides}


def run(
    args: Sequence[str | Path],
    cwd: Path,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command, failing with its full output when it exits non-zero."""
    completed = subprocess.run(
        [str(arg) for arg in args],
        cwd=cwd,
        env=dict(env) if env is not None else isolated_env(),
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    if completed.returncode != 0:
        raise AssertionError(
            f"{' '.join(map(str, args))} exited {completed.returncode} in {cwd}\n"
            f"--- stdout ---\n{completed.stdout}\n--- stderr ---\n{completed.stderr}"
        )
    return completed


def git(cwd: Path, *args: str) -> str:
    """Run git in ``cwd`` with the isolated identity and return its stripped stdout."""
    return run(["git", *args], cwd).stdout.strip()


def checkout_files(root: Path = REPO_ROOT) -> list[Path]:
    """List this checkout's files as relative paths: tracked ones and new, unignored ones."""
    output = git(root, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    paths = [Path(name) for name in output.split("\0") if name]
    return sorted(path for path in paths if (root / path).is_file())


def copy_checkout(destination: Path, root: Path = REPO_ROOT) -> Path:
    """Copy the checkout's files (working-tree content) into ``destination``, without git."""
    for relative in checkout_files(root):
        target = destination / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / relative, target)
    return destination


def commit_all(repo: Path, message: str, tag: str | None = None) -> str:
    """Commit every change in ``repo`` (tagging it when asked) and return the commit hash."""
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "--allow-empty", "-m", message)
    if tag is not None:
        git(repo, "tag", tag)
    return git(repo, "rev-parse", "HEAD")


def init_template_repo(destination: Path, tag: str = "v0.1.0") -> Path:
    """Create a git repository holding this checkout's template, committed and tagged."""
    copy_checkout(destination)
    git(destination, "init", "--quiet", "--initial-branch=main")
    commit_all(destination, f"Template {tag}", tag=tag)
    return destination


def copier(
    *args: str | Path,
    cwd: Path,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run copier's command line with this interpreter, trusting the template (tasks run)."""
    return run([sys.executable, "-m", "copier", *args], cwd, env)


def render(
    template: Path,
    destination: Path,
    *,
    ref: str | None = "HEAD",
    data: Mapping[str, str] | None = None,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Render ``template`` at ``ref`` into ``destination`` with default answers."""
    args: list[str | Path] = ["copy", "--trust", "--defaults", "--quiet"]
    if ref is not None:
        args += ["--vcs-ref", ref]
    for key, value in (data or {}).items():
        args += ["--data", f"{key}={value}"]
    return copier(*args, template, destination, cwd=destination.parent, env=env)


def tree(root: Path, ignore: Sequence[str] = (".git",)) -> dict[str, bytes]:
    """Map every file under ``root`` (relative POSIX path) to its bytes, skipping ``ignore``."""
    files: dict[str, bytes] = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if relative.parts[0] in ignore or not path.is_file():
            continue
        files[relative.as_posix()] = path.read_bytes()
    return files


def leftovers(root: Path) -> list[str]:
    """Return files holding merge-conflict markers and ``.rej`` files, outside ``.git``."""
    found: list[str] = []
    for relative, content in tree(root).items():
        if relative.endswith(".rej"):
            found.append(relative)
            continue
        text = content.decode("utf-8", errors="replace")
        if any(line.startswith(CONFLICT_MARKERS) for line in text.splitlines()):
            found.append(relative)
    return found
