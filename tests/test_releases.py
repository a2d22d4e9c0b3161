"""The release line: CHANGELOG.md, the released commits, and the answer renames keyed to them.

``copier update`` moves a service between template versions (git tags ``vX.Y.Z``), and
``hooks/migrate_answers.py`` applies the renames of ``hooks/answer_renames.json`` whose version
lies between the two. A rename keyed to a version that is never released, or a changelog whose
versions are out of order, would silently skip a migration; these tests keep them consistent.
"""

from __future__ import annotations

import json
import re
import tomllib

from packaging.version import Version

from tests.changelog import (
    CHANGE_TYPES,
    CHANGELOG,
    SEMVER,
    UNRELEASED,
    parse_date,
    release_commit,
    releases,
    sections,
)
from tests.projects import REPO_ROOT

RENAMES = REPO_ROOT / "hooks" / "answer_renames.json"
FIRST_RELEASE = "0.1.0"
FIRST_RELEASE_COMMIT = "347327e2ff91268adad302266bdda6647b4b8e0f"


def test_changelog_keeps_a_changelog() -> None:
    """Unreleased first, then releases with SemVer versions, strictly descending, each dated."""
    text = CHANGELOG.read_text(encoding="utf-8")
    assert text.startswith("# Changelog\n"), "CHANGELOG.md must start with '# Changelog'"
    assert "keepachangelog.com/en/1.1.0" in text
    found = sections(text)
    headings = [line for line in text.splitlines() if line.startswith("## ")]
    assert [section.heading for section in found] == headings, "malformed ## headings"
    assert found, "CHANGELOG.md has no sections"
    assert found[0].name == UNRELEASED, "the first section must be ## [Unreleased]"
    assert found[0].date is None
    assert [section.name for section in found[1:]].count(UNRELEASED) == 0

    released = releases(text)
    assert released, "CHANGELOG.md names no release"
    for section in released:
        assert SEMVER.match(section.name), f"{section.heading!r}: version must be X.Y.Z"
        parse_date(section)
    versions = [section.version for section in released]
    assert versions == sorted(versions, reverse=True), f"versions not newest first: {versions}"
    assert len(set(versions)) == len(versions), f"a version appears twice: {versions}"
    dates = [parse_date(section) for section in released]
    assert dates == sorted(dates, reverse=True), f"dates not newest first: {dates}"
    for section in found:
        kinds = re.findall(r"^### (.+)$", section.body, re.MULTILINE)
        assert set(kinds) <= CHANGE_TYPES, f"{section.heading!r}: unknown change types {kinds}"


def test_every_release_is_a_commit_of_the_history() -> None:
    """0.1.0 names its commit; every release resolves to a commit this repository holds."""
    by_name = {section.name: section for section in releases()}
    assert FIRST_RELEASE in by_name, f"CHANGELOG.md lost the {FIRST_RELEASE} entry"
    assert by_name[FIRST_RELEASE].named_commit == FIRST_RELEASE_COMMIT
    for section in by_name.values():
        commit = release_commit(section)
        assert re.fullmatch(r"[0-9a-f]{40}", commit), commit


def test_answer_renames_are_keyed_to_releases() -> None:
    """Each rename's version is released, or is the next release (the Unreleased changes).

    ``migrate_answers.py`` applies a rename when a project moves from a version older than the
    rename's to one at least as new: a version between two releases would never be crossed as
    intended, and one beyond the next release would wait for a release that skips it.
    """
    released = releases()
    newest = released[0].version
    known = {section.version for section in released}
    renames = json.loads(RENAMES.read_text(encoding="utf-8"))["renames"]
    for rename in renames:
        version = Version(rename["version"])
        assert SEMVER.match(rename["version"]), f"{rename}: version must be X.Y.Z"
        assert rename["old"] != rename["new"], rename
        if version in known:
            continue
        next_versions = {
            Version(f"{newest.major + 1}.0.0"),
            Version(f"{newest.major}.{newest.minor + 1}.0"),
            Version(f"{newest.major}.{newest.minor}.{newest.micro + 1}"),
        }
        assert version in next_versions, (
            f"{rename} is keyed to {version}, which is neither a release in CHANGELOG.md nor "
            f"the next one after {newest} ({', '.join(sorted(map(str, next_versions)))})"
        )


def test_tooling_version_is_the_newest_release() -> None:
    """The template repository's pyproject.toml carries the newest released version."""
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert Version(pyproject["project"]["version"]) == releases()[0].version
