"""The harness that runs commands in rendered projects.

A command that hangs is cut at the bound with everything it started, so nothing it left behind
keeps a core busy for the rest of the suite.
"""

from __future__ import annotations

import os
import select
from typing import TYPE_CHECKING

from tests import projects

if TYPE_CHECKING:
    from pathlib import Path

    import pytest

#: Longest a killed process may take to end: a net, never reached when the kill happened.
KILL_BOUND_S = 60


def test_a_command_past_its_bound_is_killed_with_its_children(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hung command's own children are killed with it, not left to run."""
    monkeypatch.setattr(projects, "COMMAND_TIMEOUT_S", 0.5)
    # A child that never ends, as a hung test process under `uv run` does; its parent waits.
    hung = "sleep 1000 & echo $! > child.pid; echo started; wait"

    result = projects.run(("sh", "-c", hung), tmp_path, os.environ)

    assert result.returncode == -1
    assert "timed out after 0.5 s" in result.output
    child = int((tmp_path / "child.pid").read_text())
    assert _exits(child), "the hung command's child outlived it"


def _exits(pid: int) -> bool:
    """Whether process `pid` has ended or ends soon (a kill is delivered asynchronously)."""
    try:
        handle = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        ended, _, _ = select.select([handle], [], [], KILL_BOUND_S)
    finally:
        os.close(handle)
    return bool(ended)
