"""Collect this suite's items under several command lines, in one fresh interpreter.

``python -m tests.collection OUT.json`` reads a JSON object ``{name: [pytest arguments]}`` on
stdin, runs ``pytest --collect-only -q <arguments>`` for each (``pytest.main``, the code the
``pytest`` command runs) and writes ``{name: [node ids selected]}`` to ``OUT.json``. Collecting
in one process pays the imports once instead of once per command line (about 1.5 s each here).

:func:`collect` runs it as a subprocess from the repository root, so the collections see the
suite as a developer's ``pytest`` does, not the state of the test session calling it.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
#: Options that only spread items over workers (pytest-xdist); they select nothing.
_DISTRIBUTION_OPTIONS = ("-n", "--numprocesses", "--dist")


def selection_args(argv: Sequence[str]) -> list[str]:
    """Return ``argv`` (pytest's arguments) without the options that only distribute items."""
    args: list[str] = []
    skip_value = False
    for arg in argv:
        if skip_value:
            skip_value = False
        elif arg in _DISTRIBUTION_OPTIONS:
            skip_value = True
        elif arg.startswith(tuple(f"{option}=" for option in _DISTRIBUTION_OPTIONS)):
            continue
        elif arg.startswith("-n") and not arg.startswith("--"):
            continue  # -n2, -nauto: no other short option starts with n
        else:
            args.append(arg)
    return args


class _Recorder:
    """A pytest plugin that keeps the node ids left after deselection."""

    def __init__(self) -> None:
        self.node_ids: list[str] = []

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.node_ids = [item.nodeid for item in session.items]


def _collect_in_process(args: Sequence[str]) -> list[str]:
    recorder = _Recorder()
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        status = pytest.main(
            ["--collect-only", "-q", "-p", "no:cacheprovider", *args], plugins=[recorder]
        )
    if status not in {pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED}:
        raise RuntimeError(f"pytest --collect-only {' '.join(args)} exited {status}:\n{output}")
    return recorder.node_ids


def collect(selections: Mapping[str, Sequence[str]], scratch: Path) -> dict[str, list[str]]:
    """Return the node ids each command line of ``selections`` selects (one subprocess)."""
    out = scratch / "collected.json"
    # Collect as a fresh `pytest` does, not as this (maybe xdist worker) session is configured.
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}
    result = subprocess.run(
        [sys.executable, "-m", "tests.collection", str(out)],
        cwd=REPO_ROOT,
        env=env,
        input=json.dumps({name: list(args) for name, args in selections.items()}),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"collecting failed ({result.returncode}):\n{result.stderr}")
    collected: dict[str, list[str]] = json.loads(out.read_text(encoding="utf-8"))
    return collected


def _main(argv: Sequence[str]) -> int:
    if len(argv) != 1:
        sys.stderr.write("usage: python -m tests.collection OUT.json < {name: [args]}\n")
        return 2
    selections: dict[str, list[str]] = json.load(sys.stdin)
    try:
        collected = {name: _collect_in_process(args) for name, args in selections.items()}
    except RuntimeError as error:
        sys.stderr.write(f"{error}\n")
        return 1
    Path(argv[0]).write_text(json.dumps(collected), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
