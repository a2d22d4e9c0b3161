"""Rename answers in a project's answers file when the template renamed a question.

Copier runs this script as a ``_migrations`` task in the "before" stage of ``copier update``,
before it reloads the project's previous answers, so an answer given under a question's old
name is kept under the new name instead of being silently replaced by the new default.

The renames live in ``answer_renames.json`` next to this script, one entry per renamed
question: ``{"version": "0.2.0", "old": "log_backend", "new": "logging_backend"}`` means the
release 0.2.0 renamed ``log_backend``. An entry applies when the project moves from a version
older than ``version`` to one at least as new. The answers file is edited line by line, so its
comments and layout survive.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from packaging.version import Version  # a dependency of copier, whose interpreter runs this


@dataclass(frozen=True)
class Rename:
    """One question renamed in one template release."""

    version: Version
    old: str
    new: str


def load_renames(path: Path) -> list[Rename]:
    """Read the renames table; its format is documented in the file itself."""
    data = json.loads(path.read_text(encoding="utf-8"))
    return [
        Rename(version=Version(entry["version"]), old=entry["old"], new=entry["new"])
        for entry in data["renames"]
    ]


def applicable(renames: list[Rename], from_version: Version, to_version: Version) -> list[Rename]:
    """Return the renames released after ``from_version`` up to ``to_version``, oldest first."""
    chosen = [rename for rename in renames if from_version < rename.version <= to_version]
    return sorted(chosen, key=lambda rename: rename.version)


def rename_answers(answers: str, renames: list[Rename]) -> tuple[str, list[str]]:
    """Return ``answers`` with top-level keys renamed, and a report line per decision.

    A key is renamed only when the new name is not already answered: an explicit answer under
    the new name wins and the old one is left for the owner to delete.
    """
    report: list[str] = []
    for rename in renames:
        old_key = re.compile(rf"^{re.escape(rename.old)}:(?=\s|$)", re.MULTILINE)
        new_key = re.compile(rf"^{re.escape(rename.new)}:(?=\s|$)", re.MULTILINE)
        if not old_key.search(answers):
            continue
        if new_key.search(answers):
            report.append(f"kept '{rename.old}': '{rename.new}' is already answered")
            continue
        answers = old_key.sub(f"{rename.new}:", answers)
        report.append(f"renamed answer '{rename.old}' to '{rename.new}' ({rename.version})")
    return answers, report


def main(argv: list[str] | None = None) -> int:
    """Apply the renames between two template versions to the answers file."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--answers-file", type=Path, required=True)
    parser.add_argument("--from-version", type=Version, required=True)
    parser.add_argument("--to-version", type=Version, required=True)
    parser.add_argument(
        "--renames",
        type=Path,
        default=Path(__file__).with_name("answer_renames.json"),
    )
    args = parser.parse_args(argv)
    renames = applicable(load_renames(args.renames), args.from_version, args.to_version)
    if not renames or not args.answers_file.is_file():
        return 0
    original = args.answers_file.read_text(encoding="utf-8")
    updated, report = rename_answers(original, renames)
    if updated != original:
        args.answers_file.write_text(updated, encoding="utf-8")
    for line in report:
        sys.stdout.write(f"{args.answers_file}: {line}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
