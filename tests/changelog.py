"""Read CHANGELOG.md: the template's releases, their versions, dates and commits.

The changelog follows Keep a Changelog 1.1.0: an ``## [Unreleased]`` section, then one
``## [X.Y.Z] - YYYY-MM-DD`` section per release, newest first. A release is found in the git
history without tags (a fresh CI clone may have none): by the commit its entry names
(``Released at commit `<40 hex digits>` ``, for a release declared after the fact, as 0.1.0
was), or else by the commit that added its heading to the changelog.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from packaging.version import Version

REPO_ROOT = Path(__file__).resolve().parent.parent
CHANGELOG = REPO_ROOT / "CHANGELOG.md"
UNRELEASED = "Unreleased"
#: Keep a Changelog's kinds of change, the only ``###`` headings an entry may have.
CHANGE_TYPES = frozenset({"Added", "Changed", "Deprecated", "Removed", "Fixed", "Security"})
SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$")
UNSHALLOW = "needs the full git history: git fetch --unshallow (or actions/checkout fetch-depth: 0)"

_SECTION = re.compile(r"^## \[(?P<name>[^\]]+)\](?: - (?P<date>\S+))?[ \t]*$", re.MULTILINE)
_COMMIT = re.compile(r"Released at commit `(?P<commit>[0-9a-f]{40})`")


@dataclass(frozen=True)
class Section:
    """One ``##`` section of the changelog: its name (a version or Unreleased) and its text."""

    name: str
    date: str | None
    heading: str
    body: str

    @property
    def version(self) -> Version:
        """Return the section's version (only released sections have one)."""
        return Version(self.name)

    @property
    def named_commit(self) -> str | None:
        """Return the commit the entry says it was released at, if it names one."""
        found = _COMMIT.search(self.body)
        return found["commit"] if found else None


def sections(text: str | None = None) -> list[Section]:
    """Return the changelog's ``##`` sections in file order."""
    if text is None:
        text = CHANGELOG.read_text(encoding="utf-8")
    matches = list(_SECTION.finditer(text))
    ends = [match.start() for match in matches[1:]] + [len(text)]
    return [
        Section(
            name=match["name"],
            date=match["date"],
            heading=match[0].strip(),
            body=text[match.end() : end],
        )
        for match, end in zip(matches, ends, strict=True)
    ]


def releases(text: str | None = None) -> list[Section]:
    """Return the released sections, newest first (every section but Unreleased)."""
    return [section for section in sections(text) if section.name != UNRELEASED]


def parse_date(section: Section) -> date:
    """Return a release's date, failing with the heading when it is missing or not ISO 8601."""
    assert section.date is not None, f"{section.heading!r} has no date (## [X.Y.Z] - YYYY-MM-DD)"
    try:
        return date.fromisoformat(section.date)
    except ValueError:
        raise AssertionError(f"{section.heading!r}: {section.date!r} is not YYYY-MM-DD") from None


def _git(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def commit_exists(commit: str) -> bool:
    """Return whether this repository's history holds ``commit``."""
    return _git("cat-file", "-e", f"{commit}^{{commit}}").returncode == 0


def release_commit(section: Section) -> str:
    """Return the full hash of the commit ``section`` was released at, from the history.

    Fails, saying what to fetch, when the history at hand does not hold it.
    """
    shallow = _git("rev-parse", "--is-shallow-repository").stdout.strip()
    assert shallow == "false", f"this clone is shallow; release {section.name} {UNSHALLOW}"
    commit = section.named_commit
    if commit is None:
        added = _git("log", "--format=%H", "--reverse", "-S", section.heading, "--", CHANGELOG.name)
        found = added.stdout.split()
        assert added.returncode == 0, added.stderr
        assert found, f"no commit added {section.heading!r} to {CHANGELOG.name}: {UNSHALLOW}"
        commit = found[0]
    assert commit_exists(commit), (
        f"release {section.name} names commit {commit}, which this clone does not have: {UNSHALLOW}"
    )
    return commit
