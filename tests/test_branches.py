"""Every ``{% if %}``/``{% elif %}``/``{% else %}`` body of the template is rendered by the matrix.

The check itself is in tests/branches.py. It is proved able to fail on a tiny template of its
own, with one question, a reachable and an unreachable branch in contents and in names; the
scanner it relies on is tested on the Jinja forms that are not tags.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests import branches
from tests.branches import ScanError, Tag, check_branches, find_tags
from tests.matrix import COMBINATIONS, Combination
from tests.projects import REPO_ROOT

pytestmark = pytest.mark.xdist_group("branches")

COPIER_YML = """\
_subdirectory: template
_envops:
  undefined: jinja2.StrictUndefined
  keep_trailing_newline: true
color:
  type: str
  help: A colour
  choices: [red, green, blue]
  default: red
"""

NOTES = """\
{% if color == 'red' %}red{% elif color == 'green' %}green{% elif color == 'blue' %}blue{% endif %}
{%- if color in ('red', 'green') %}
warm or green
{%- else -%}
never else
{%- endif %}
{{ 'x' if color == 'blue' else 'y' }} {{ '${{ matrix.x }}' }}
{% raw %}{% if raw %}not a tag{% else %}neither{% endif %}{% endraw %}
{# {% if comment %}not a tag either{% endif %} #}
{% for item in [] %}{{ item }}{% else %}empty loop{% endfor %}
{%+ if color == 'red' -%}
  {%- if color == 'green' %}nested never{% endif %}
{%- endif %}
"""

#: What the synthetic template's two colours render, and what is unreachable for them.
COLOURS = [Combination({"color": "red"}, "red"), Combination({"color": "green"}, "green")]
UNREACHABLE = [
    "template/notes.txt.jinja:1: {% elif color == 'blue' %} body never rendered "
    "(of {% if color == 'red' %} in line 1)",
    "template/notes.txt.jinja:4: {%- else -%} body never rendered "
    "(of {%- if color in ('red', 'green') %} in line 2)",
    "template/notes.txt.jinja:12: {%- if color == 'green' %} body never rendered",
    "template/{% if color != 'purple' %}shown{% else %}hidden{% endif %} (name): "
    "{% else %} body never rendered (of {% if color != 'purple' %} in the name)",
    "template/{% if color == 'blue' %}blue.txt{% endif %}.jinja (name): "
    "{% if color == 'blue' %} body never rendered",
]


def make_template(root: Path) -> Path:
    """Write the synthetic template: one question, reachable and unreachable branches."""
    template = root / "template"
    (template / "{% if color != 'purple' %}shown{% else %}hidden{% endif %}").mkdir(parents=True)
    (root / "copier.yml").write_text(COPIER_YML, encoding="utf-8")
    (template / "notes.txt.jinja").write_text(NOTES, encoding="utf-8")
    (template / "{% if color == 'red' %}red.txt{% endif %}.jinja").write_text("red\n")
    (template / "{% if color == 'blue' %}blue.txt{% endif %}.jinja").write_text("blue\n")
    # Not a .jinja file: copier copies its contents verbatim, so they hold no branches.
    shown = template / "{% if color != 'purple' %}shown{% else %}hidden{% endif %}"
    (shown / "verbatim.txt").write_text("{% if never %}copied as is{% endif %}\n")
    return root


def test_the_check_names_exactly_the_unreachable_branches(tmp_path: Path) -> None:
    """An elif, an else, a nested if and two conditional names are never rendered: all reported.

    A failing check renders every combination it was given.
    """
    root = make_template(tmp_path / "synthetic")
    report = check_branches(root, COLOURS, tmp_path)
    assert [branch.describe() for branch in report.unrendered] == UNREACHABLE
    # Contents: 3 + 2 + 1 (for's else) + 2; names: red.txt, blue.txt, shown and hidden.
    assert len(report.branches) == 12
    assert report.rendered == ["red", "green"]
    assert report.describe().endswith(
        "5 of 12 branch bodies never rendered by 2 combinations: red, green"
    )


def test_the_check_passes_and_stops_rendering_once_every_branch_is_seen(tmp_path: Path) -> None:
    """With blue added everything is rendered; the repeated red is never rendered."""
    root = make_template(tmp_path / "synthetic")
    notes = root / "template" / "notes.txt.jinja"
    notes.write_text(
        NOTES.replace("('red', 'green')", "('red', 'green', 'purple')").replace(
            "{%- if color == 'green' %}", "{%- if color == 'red' %}"
        ),
        encoding="utf-8",
    )
    (root / "template" / "{% if color != 'purple' %}shown{% else %}hidden{% endif %}").rename(
        root / "template" / "{% if color != 'blue' %}shown{% else %}hidden{% endif %}"
    )
    combinations = [*COLOURS, Combination({"color": "blue"}, "blue"), COLOURS[0]]
    report = check_branches(root, combinations, tmp_path)
    assert report.unrendered == [], report.describe()
    assert report.rendered == ["red", "green", "blue"]


def test_a_fragment_no_combination_includes_is_reported(tmp_path: Path) -> None:
    """A fragment is a body of its own: included for red only, blue's fragment is dead code.

    Branches inside a fragment are instrumented like those of any other file.
    """
    root = make_template(tmp_path / "synthetic")
    config = root / "copier.yml"
    config.write_text(config.read_text() + "_exclude:\n  - /_fragments\n", encoding="utf-8")
    fragments = root / "template" / "_fragments"
    fragments.mkdir()
    (fragments / "warm-red.txt.jinja").write_text(
        "{% if color == 'red' %}hot{% else %}never{% endif %}\n"
    )
    (fragments / "warm-blue.txt.jinja").write_text("cold\n")
    (root / "template" / "warm.txt.jinja").write_text(
        "{% include 'template/_fragments/warm-' ~ color ~ '.txt.jinja' ignore missing %}\n"
    )
    report = check_branches(root, COLOURS, tmp_path)
    assert [branch.describe() for branch in report.unrendered] == [
        "template/_fragments/warm-blue.txt.jinja: fragment never included",
        "template/_fragments/warm-red.txt.jinja:1: {% else %} body never rendered "
        "(of {% if color == 'red' %} in line 1)",
        *UNREACHABLE,
    ]
    assert len(report.branches) == 12 + 2 + 2


def test_the_template_renders_every_branch(tmp_path: Path) -> None:
    """The combinations of tests/matrix.py render every branch body of the real template."""
    report = check_branches(REPO_ROOT, COMBINATIONS, tmp_path)
    assert report.unrendered == [], report.describe()
    assert len(report.branches) > 100  # the scanner found the template's branches at all


def test_fragments_are_not_rendered_as_files_of_their_own() -> None:
    """copier.yml excludes the fragments' folder: they reach the output only through includes."""
    config = yaml.safe_load((REPO_ROOT / "copier.yml").read_text(encoding="utf-8"))
    assert f"/{branches.FRAGMENTS}" in config["_exclude"]


@pytest.mark.parametrize(
    ("source", "tags"),
    [
        (
            "{% if a %}x{% elif b %}y{% else %}z{% endif %}",
            ["{% if a %}", "{% elif b %}", "{% else %}"],
        ),
        ("{%- if a -%}x{%+ else -%}y{%- endif %}", ["{%- if a -%}", "{%+ else -%}"]),
        ("{{ a if b else c }}{{ '${{ matrix.x }}' }}{{ {'k': {'v': 1}} }}", []),
        ("{% raw %}{% if a %}{% endraw %}{# {% if b %} #}", []),
        ("{% if x == '%}' %}a{% endif %}", ["{% if x == '%}' %}"]),
        (
            "{% for i in x %}{% if i %}a{% endif %}{% else %}b{% endfor %}",
            ["{% if i %}", "{% else %}"],
        ),
        ("{% set v = 1 %}{% set w %}{% if a %}b{% endif %}{% endset %}", ["{% if a %}"]),
    ],
)
def test_scanner_finds_the_tags_jinja_finds(source: str, tags: list[str]) -> None:
    """Tags with whitespace control are found; expressions, raw text and comments are not tags."""
    assert [tag.text for tag in find_tags(source)] == tags


def test_scanner_refuses_what_it_cannot_read() -> None:
    """An unclosed block or a stray else stops the check instead of skipping branches."""
    with pytest.raises(ScanError, match="never closed"):
        find_tags("{% if a %}x")
    with pytest.raises(ScanError, match="outside an if/for block"):
        find_tags("{% else %}")


def test_a_tag_the_scanner_misses_stops_the_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Jinja's own parse of the instrumented copy catches a branch left without its marker."""
    root = make_template(tmp_path / "synthetic")

    def miss_the_last_tag(source: str, *args: Any, **kwargs: Any) -> list[Tag]:
        return find_tags(source, *args, **kwargs)[:-1]

    monkeypatch.setattr(branches, "find_tags", miss_the_last_tag)
    with pytest.raises(ScanError, match="has no marker"):
        check_branches(root, COLOURS, tmp_path)
