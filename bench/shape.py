"""The template's shape against its targets: `{% if` blocks and settings.

At most 150 `{% if` blocks in `template/` and 5 in `main.py`, at most 40 settings in the
richest render (issue 11).

Run ``uv run python -m bench.shape``; ``--check`` exits 1 when a count is over its target.
Settings are counted in the rendered `.env.example`, which a rendered test keeps equal to the
settings model: the variables with the service's prefix (`MY_SERVICE_...`), not those of other
programs it lists for Docker Compose (`DATABASE_PASSWORD`).
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

import copier

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "template"
JINJA_IF = re.compile(r"{%-?\s*if\b")
#: The env prefix of a render with the default package name.
PREFIX = "MY_SERVICE_"
TARGETS = {"if blocks": 150, "if blocks in main.py": 5, "settings": 40}
#: Every feature on; tracing has two exporters, so both are rendered.
RICHEST = [
    {
        "error_aggregators": ["sentry", "gcp"],
        "database": "postgresql",
        "rate_limit_storage": "redis",
        "metrics": "prometheus",
        "tracing": tracing,
        "auth": "jwt",
        "cache": "redis",
        "jobs": "redis",
    }
    for tracing in ("otlp", "gcp")
]


def if_blocks() -> Counter[str]:
    """`{% if` blocks per template file, by path relative to `template/`."""
    counts: Counter[str] = Counter()
    for path in TEMPLATE.rglob("*"):
        if path.is_file():
            found = len(JINJA_IF.findall(path.read_text(errors="replace")))
            if found:
                counts[str(path.relative_to(TEMPLATE))] = found
    return counts


def settings_count(answers: Mapping[str, object]) -> int:
    """Variables in the `.env.example` of a render with `answers`."""
    with tempfile.TemporaryDirectory() as destination:
        copier.run_copy(
            str(ROOT),
            destination,
            data=dict(answers),
            vcs_ref="HEAD",
            defaults=True,
            skip_tasks=True,
            unsafe=True,
            quiet=True,
        )
        lines = (Path(destination) / ".env.example").read_text().splitlines()
    setting = re.compile(rf"#? ?{PREFIX}[A-Z0-9_]+=")
    return sum(bool(setting.match(line)) for line in lines)


def main(argv: list[str] | None = None) -> int:
    """Print the counts against the targets; with `--check`, fail when one is over."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when over a target")
    arguments = parser.parse_args(argv)

    blocks = if_blocks()
    counts = {
        "if blocks": sum(blocks.values()),
        "if blocks in main.py": blocks["src/{{package_name}}/main.py.jinja"],
        "settings": max(settings_count(answers) for answers in RICHEST),
    }
    lines = [
        f"{name:<22} {count:>4}  target <= {TARGETS[name]:<4} "
        + ("ok" if count <= TARGETS[name] else "over")
        for name, count in counts.items()
    ]
    lines.append(f"\n`{{% if` in {len(blocks)} files; the most:")
    lines += [f"{count:>4}  {path}" for path, count in blocks.most_common(8)]
    sys.stdout.write("\n".join(lines) + "\n")
    over = any(count > TARGETS[name] for name, count in counts.items())
    return 1 if arguments.check and over else 0


if __name__ == "__main__":
    sys.exit(main())
