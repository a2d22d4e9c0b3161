"""Prove that the combinations of the matrix render every branch of the template's Jinja.

Every ``{% if %}``, ``{% elif %}`` and ``{% else %}`` tag in the template (file contents of
``*.jinja`` files and the names of all files and directories under ``_subdirectory``) opens a
body. :func:`check_branches` copies the template repository into a scratch folder, inserts a
unique marker text right after each of those tags (``{% for %}``'s ``{% else %}`` too), renders
the combinations with copier (no tasks, through :func:`tests.projects.render`) and collects the
markers that reach the output, in file contents and in paths. A body whose marker never appears
is never rendered by any combination: dead code, or a combination missing from the matrix.

The tags are found by a small scanner that skips what Jinja does not treat as tags: comments,
``{% raw %}`` sections, and the inside of ``{{ ... }}`` expressions (``{{ x if y else z }}``,
``{{ '${{ matrix.x }}' }}``); whitespace control (``{%-``, ``-%}``, ``{%+``) is allowed. The
instrumented sources are then parsed with Jinja itself, and the check refuses to run unless
every branch body of Jinja's syntax tree starts with exactly the marker the scanner put there:
a tag the scanner missed or misread stops the check instead of passing unseen.

Rendering stops as soon as every marker has been seen; combinations are tried in an order that
meets unseen answers first, so a template whose branches are all reachable needs only a few of
them. Only a failing check renders them all.

A fragment (a ``.jinja`` file under ``template/_fragments/``, which copier.yml's ``_exclude``
keeps out of the render) reaches the output only through another file's ``{% include %}``. It
gets a marker of its own at its start: a fragment that no combination includes is dead code,
and is reported like a body never rendered.

A marker inside a ``{% set x %}...{% endset %}`` block becomes part of ``x``; the template has
none of those blocks around a branch today.
"""

from __future__ import annotations

import itertools
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import jinja2
import yaml
from jinja2 import nodes

from tests.matrix import Combination
from tests.projects import render
from tests.update_support import checkout_files

#: The text inserted after each branch tag; the number is the branch's index.
MARKER_FORMAT = "BranchMarker{:05d}X"
MARKER = re.compile(r"BranchMarker(\d{5})X")
#: Block tags that need an ``end<name>`` tag (``set`` only without ``=``).
_BLOCK_TAGS = frozenset(
    {"if", "for", "macro", "call", "filter", "block", "with", "autoescape", "trans", "set"}
)
#: Jinja's string literals, by opening quote.
_STRINGS = {
    quote: re.compile(rf"{quote}(?:[^{quote}\\]|\\.)*{quote}", re.DOTALL) for quote in "'\""
}
_ENDRAW = r"{start}[-+]?\s*endraw\s*[-+]?{end}"
_CONFIG_NAMES = ("copier.yml", "copier.yaml")
#: The folder under ``_subdirectory`` whose files are put in other files by ``{% include %}``.
FRAGMENTS = "_fragments"
#: copier's own defaults for the settings this module reads from ``copier.yml``.
_DEFAULT_SUFFIX = ".jinja"
_DELIMITERS = {
    "block_start_string": "{%",
    "block_end_string": "%}",
    "variable_start_string": "{{",
    "variable_end_string": "}}",
    "comment_start_string": "{#",
    "comment_end_string": "#}",
}


class ScanError(ValueError):
    """The scanner cannot read a template's tags the way Jinja does."""


@dataclass(frozen=True)
class Tag:
    """One ``if``/``elif``/``else`` tag found by the scanner."""

    #: Offset right after the tag's closing delimiter, where the marker goes.
    end: int
    #: Line of the tag in its text (1-based).
    line: int
    #: The tag as written, e.g. ``{%- elif database == 'mysql' %}``.
    text: str
    #: The ``{% if %}`` or ``{% for %}`` tag this one belongs to, and its line.
    opener: str
    opener_line: int


@dataclass(frozen=True)
class Branch:
    """A body the template may render: where its tag is, and the tag; or a whole fragment."""

    #: Template path relative to the template repository, POSIX separators.
    path: str
    #: Line of the tag in the file, or ``None`` for a tag in the file or directory name.
    line: int | None
    #: ``None`` for a fragment: the body is the whole file, put in by an include.
    tag: Tag | None

    def describe(self) -> str:
        """Say which body is never rendered, as ``path:line: {% tag %} body never rendered``."""
        if self.tag is None:
            return f"{self.path}: fragment never included"
        where = f"{self.path}:{self.line}" if self.line is not None else f"{self.path} (name)"
        message = f"{where}: {self.tag.text} body never rendered"
        if self.tag.text != self.tag.opener:
            of = f"line {self.tag.opener_line}" if self.line is not None else "the name"
            message += f" (of {self.tag.opener} in {of})"
        return message


@dataclass
class Report:
    """What the check found: every branch, those never rendered, and the renders it took."""

    branches: list[Branch]
    unrendered: list[Branch]
    rendered: list[str] = field(default_factory=list)

    def describe(self) -> str:
        """Return one line per body never rendered, and what was rendered."""
        lines = [branch.describe() for branch in self.unrendered]
        lines.append(
            f"{len(self.unrendered)} of {len(self.branches)} branch bodies never rendered by "
            f"{len(self.rendered)} combinations: {', '.join(self.rendered)}"
        )
        return "\n".join(lines)


# --- finding the tags -------------------------------------------------------------------------


def _skip_expression(text: str, start: int, end_delimiter: str, where: str) -> int:
    """Return the offset after the ``end_delimiter`` closing the tag whose inside is at ``start``.

    Like Jinja's lexer, a delimiter inside a string literal or unbalanced brackets does not
    close the tag.
    """
    depth = 0
    i = start
    while i < len(text):
        char = text[i]
        if char in _STRINGS:
            match = _STRINGS[char].match(text, i)
            if match is None:
                raise ScanError(f"{where}: unterminated string at offset {i}")
            i = match.end()
            continue
        if depth == 0 and text.startswith(end_delimiter, i):
            return i + len(end_delimiter)
        if char in "([{":
            depth += 1
        elif char in ")]}" and depth:
            depth -= 1
        i += 1
    raise ScanError(f"{where}: a tag opened before offset {start} is never closed")


@dataclass(frozen=True)
class _BlockTag:
    """A ``{% ... %}`` tag as the scanner reads it."""

    start: int
    end: int
    line: int
    text: str
    #: The tag's first word (``if``, ``endfor``...) and the whole inside, delimiters stripped.
    name: str
    inside: str


def _block_tags(text: str, delimiters: Mapping[str, str], where: str) -> Iterator[_BlockTag]:
    """Yield the block tags of a Jinja source, skipping comments, expressions and raw text."""
    block_start, block_end = delimiters["block_start_string"], delimiters["block_end_string"]
    variable_start = delimiters["variable_start_string"]
    comment_start = delimiters["comment_start_string"]
    opening = re.compile("|".join(map(re.escape, (block_start, variable_start, comment_start))))
    endraw = re.compile(_ENDRAW.format(start=re.escape(block_start), end=re.escape(block_end)))
    position = 0
    while (found := opening.search(text, position)) is not None:
        start, delimiter = found.start(), found.group()
        if delimiter == comment_start:
            close = text.find(delimiters["comment_end_string"], found.end())
            if close < 0:
                raise ScanError(f"{where}: unclosed comment at offset {start}")
            position = close + len(delimiters["comment_end_string"])
            continue
        if delimiter == variable_start:
            end = _skip_expression(text, found.end(), delimiters["variable_end_string"], where)
            position = end
            continue
        position = end = _skip_expression(text, found.end(), block_end, where)
        tag_text = text[start:end]
        inside = tag_text[len(block_start) : -len(block_end)].strip("-+ \t\r\n")
        name = inside.split(maxsplit=1)[0] if inside else ""
        line = text.count("\n", 0, start) + 1
        if name == "raw":
            after = endraw.search(text, end)
            if after is None:
                raise ScanError(f"{where}:{line}: {tag_text} without endraw")
            position = after.end()
            continue
        yield _BlockTag(start, end, line, tag_text, name, inside)


def find_tags(
    text: str, delimiters: Mapping[str, str] = _DELIMITERS, where: str = "<text>"
) -> list[Tag]:
    """Return the ``if``/``elif``/``else`` tags of a Jinja source, in order."""
    tags: list[Tag] = []
    #: Open blocks, innermost last.
    stack: list[_BlockTag] = []
    for tag in _block_tags(text, delimiters, where):
        if tag.name in _BLOCK_TAGS and not (tag.name == "set" and "=" in tag.inside):
            stack.append(tag)
            if tag.name == "if":
                tags.append(Tag(tag.end, tag.line, tag.text, tag.text, tag.line))
        elif tag.name in {"elif", "else"}:
            owners = {"if"} if tag.name == "elif" else {"if", "for"}
            if not stack or stack[-1].name not in owners:
                raise ScanError(f"{where}:{tag.line}: {tag.text} outside an if/for block")
            tags.append(Tag(tag.end, tag.line, tag.text, stack[-1].text, stack[-1].line))
        elif tag.name.startswith("end") and tag.name[3:] in _BLOCK_TAGS:
            if not stack or stack[-1].name != tag.name[3:]:
                raise ScanError(f"{where}:{tag.line}: {tag.text} closes nothing open")
            stack.pop()
    if stack:
        raise ScanError(f"{where}:{stack[-1].line}: {stack[-1].text} is never closed")
    return tags


# --- instrumenting a copy ---------------------------------------------------------------------


@dataclass
class _Instrumenter:
    """Inserts markers into sources and remembers which branch each marker stands for."""

    delimiters: Mapping[str, str]
    environment: jinja2.Environment
    branches: list[Branch] = field(default_factory=list)

    def instrument(self, source: str, path: str, *, in_name: bool, fragment: bool = False) -> str:
        """Return ``source`` with a marker after each branch tag, checked against Jinja's AST.

        A ``fragment`` gets one more marker at its start, for the fragment as a whole.
        """
        tags = find_tags(source, self.delimiters, where=path)
        pieces, previous = [], 0
        first = len(self.branches)
        for tag in tags:
            pieces += [source[previous : tag.end], MARKER_FORMAT.format(len(self.branches))]
            previous = tag.end
            self.branches.append(Branch(path, None if in_name else tag.line, tag))
        pieces.append(source[previous:])
        instrumented = "".join(pieces)
        self._verify(instrumented, path, set(range(first, len(self.branches))))
        if fragment:
            instrumented = MARKER_FORMAT.format(len(self.branches)) + instrumented
            self.branches.append(Branch(path, None, None))
        return instrumented

    def _verify(self, source: str, path: str, expected: set[int]) -> None:
        """Fail unless every branch body in Jinja's parse of ``source`` starts with a marker.

        The markers found that way must be exactly those inserted: no body without one, and no
        marker inserted anywhere else.
        """
        try:
            tree = self.environment.parse(source, name=path)
        except jinja2.TemplateSyntaxError as error:
            message = f"{path}:{error.lineno}: the instrumented copy does not parse: {error}"
            raise ScanError(message) from error
        bodies = [if_.body for if_ in tree.find_all(nodes.If)]  # elif blocks are If nodes too
        bodies += [if_.else_ for if_ in tree.find_all(nodes.If) if if_.else_]
        bodies += [for_.else_ for for_ in tree.find_all(nodes.For) if for_.else_]
        seen = []
        for body in bodies:
            marker = _leading_marker(body)
            if marker is None:
                raise ScanError(
                    f"{path}:{body[0].lineno if body else '?'}: a branch body has no marker: "
                    "the scanner missed or misread a tag"
                )
            seen.append(marker)
        if sorted(seen) != sorted(expected):
            raise ScanError(
                f"{path}: Jinja sees branch bodies {sorted(seen)}, the scanner marked "
                f"{sorted(expected)}"
            )


def _leading_marker(body: Sequence[nodes.Node]) -> int | None:
    """Return the number of the marker a body starts with, if it starts with one."""
    if not body or not isinstance(body[0], nodes.Output) or not body[0].nodes:
        return None
    data = body[0].nodes[0]
    if not isinstance(data, nodes.TemplateData):
        return None
    match = MARKER.match(data.data)
    return int(match.group(1)) if match else None


def _template_files(root: Path) -> list[Path]:
    """Return the template repository's files, relative: git's view in a checkout, else all."""
    if (root / ".git").exists():
        return checkout_files(root)
    return sorted(
        path.relative_to(root)
        for path in root.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    )


def _config(root: Path) -> dict[str, object]:
    for name in _CONFIG_NAMES:
        if (root / name).is_file():
            loaded = yaml.safe_load((root / name).read_text(encoding="utf-8"))
            if not isinstance(loaded, dict):
                raise ScanError(f"{name} is not a mapping")
            return loaded
    raise ScanError(f"no copier.yml in {root}")


def _environment(config: Mapping[str, object]) -> tuple[dict[str, str], jinja2.Environment]:
    """Return the delimiters and a parse-only Jinja environment with copier.yml's syntax."""
    envops = config.get("_envops") or {}
    if not isinstance(envops, dict):
        raise ScanError("_envops is not a mapping")
    for unsupported in ("line_statement_prefix", "line_comment_prefix"):
        if envops.get(unsupported):
            raise ScanError(f"_envops.{unsupported} is not supported by the branch check")
    delimiters = {key: str(envops.get(key, default)) for key, default in _DELIMITERS.items()}
    extensions = config.get("_jinja_extensions") or []
    if not isinstance(extensions, list):
        raise ScanError("_jinja_extensions is not a list")
    environment = jinja2.Environment(  # noqa: S701 - parses only, renders nothing
        block_start_string=delimiters["block_start_string"],
        block_end_string=delimiters["block_end_string"],
        variable_start_string=delimiters["variable_start_string"],
        variable_end_string=delimiters["variable_end_string"],
        comment_start_string=delimiters["comment_start_string"],
        comment_end_string=delimiters["comment_end_string"],
        extensions=[str(name) for name in extensions],
    )
    return delimiters, environment


def instrument(root: Path, destination: Path) -> list[Branch]:
    """Copy the template repository at ``root`` into ``destination`` with markers; list them.

    Contents are instrumented in files with copier's template suffix (others are copied
    verbatim, as copier does); names are instrumented in every path under ``_subdirectory``.
    Files with the suffix under ``_subdirectory``'s ``_fragments/`` are marked as fragments.
    """
    config = _config(root)
    delimiters, environment = _environment(config)
    subdirectory = PurePosixPath(str(config.get("_subdirectory") or "."))
    suffix = str(config.get("_templates_suffix", _DEFAULT_SUFFIX))
    instrumenter = _Instrumenter(delimiters, environment)
    names: dict[PurePosixPath, str] = {}

    def renamed(relative: PurePosixPath) -> PurePosixPath:
        """Return ``relative`` (inside the subdirectory) with each component instrumented."""
        parts = []
        for depth in range(1, len(relative.parts) + 1):
            prefix = PurePosixPath(*relative.parts[:depth])
            if prefix not in names:
                names[prefix] = instrumenter.instrument(
                    prefix.name, str(subdirectory / prefix), in_name=True
                )
            parts.append(names[prefix])
        return PurePosixPath(*parts)

    for relative in map(PurePosixPath, map(Path.as_posix, _template_files(root))):
        source = root / relative
        inside = relative.is_relative_to(subdirectory) and relative.name not in _CONFIG_NAMES
        target = relative
        if inside:
            target = subdirectory / renamed(relative.relative_to(subdirectory))
        (destination / target).parent.mkdir(parents=True, exist_ok=True)
        # copier renders the contents of files with the suffix (of every file without one).
        if inside and relative.name.endswith(suffix):
            text = source.read_text(encoding="utf-8")
            fragment = relative.relative_to(subdirectory).parts[0] == FRAGMENTS
            instrumented = instrumenter.instrument(
                text, str(relative), in_name=False, fragment=fragment
            )
            (destination / target).write_text(instrumented, encoding="utf-8")
        else:
            shutil.copy2(source, destination / target)
    return instrumenter.branches


# --- rendering --------------------------------------------------------------------------------


def coverage_order(combinations: Sequence[Combination]) -> list[Combination]:
    """Order ``combinations`` so that each next one meets the most answers not yet rendered.

    Ties go to the combination meeting the most unseen pairs of answers, then to matrix order.
    """
    remaining = list(combinations)
    seen_values: set[tuple[str, object]] = set()
    seen_pairs: set[tuple[tuple[str, object], tuple[str, object]]] = set()

    def values(combination: Combination) -> set[tuple[str, object]]:
        return set(combination.answers.items())

    def pairs(
        combination: Combination,
    ) -> set[tuple[tuple[str, object], tuple[str, object]]]:
        return set(itertools.combinations(sorted(combination.answers.items()), 2))

    ordered = []
    while remaining:
        best = max(
            remaining,
            key=lambda c: (len(values(c) - seen_values), len(pairs(c) - seen_pairs)),
        )
        remaining.remove(best)
        ordered.append(best)
        seen_values |= values(best)
        seen_pairs |= pairs(best)
    return ordered


def _markers(root: Path) -> Iterator[int]:
    """Yield the markers in a rendered tree's paths and file contents."""
    for path in root.rglob("*"):
        relative = path.relative_to(root).as_posix()
        for match in MARKER.finditer(relative):
            yield int(match.group(1))
        if path.is_file():
            text = path.read_bytes().decode("utf-8", errors="replace")
            for match in MARKER.finditer(text):
                yield int(match.group(1))


def check_branches(
    root: Path, combinations: Iterable[Combination], work: Path | None = None
) -> Report:
    """Render ``combinations`` of the instrumented template at ``root``; report unseen bodies.

    ``work`` holds the instrumented copy and the renders (a temporary folder by default).
    """
    with tempfile.TemporaryDirectory(dir=work, prefix="branches-") as scratch:
        copy = Path(scratch) / "template"
        branches = instrument(root, copy)
        unseen = set(range(len(branches)))
        rendered = []
        for combination in coverage_order(list(combinations)):
            if not unseen:
                break
            destination = Path(scratch) / "render" / combination.id
            render(destination, combination.copier_data(), src=copy)
            unseen.difference_update(_markers(destination))
            shutil.rmtree(destination)
            rendered.append(combination.id)
    unrendered = sorted(
        (branches[i] for i in unseen),
        key=lambda b: (b.path, b.line or 0, b.tag.end if b.tag else -1),
    )
    return Report(branches, unrendered, rendered)
