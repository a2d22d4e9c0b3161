"""The reference for the ``notes-get-auth`` benchmark: the same service and GET, without auth.

The service is measured with ``AUTH__READ_REQUIRES_TOKEN=true`` and a development token on
every request; the reference is the rendered service itself with reads open, so the ratio
between them is what authentication costs per request (the token's signature and claims, the
scope, the subject in the log context and as the rate-limit key).

``python -m bench.apps.authenticated --project DIR --out FILE`` prepares the note as
``bench.apps.notes`` does and adds the ``Authorization`` header to send: a development token,
signed by a key made in the working directory, where the service (in the test environment)
finds it.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
from pathlib import Path
from typing import Any

from bench.apps import notes

#: The setting the benchmark turns on for the service; its prefix names the rendered package.
READS_NEED_A_TOKEN = "_AUTH__READ_REQUIRES_TOKEN"  # noqa: S105 (a setting's name)
#: Longer than any run: the token must not expire while it is measured.
TOKEN_SECONDS = 24 * 3600


def _package() -> str:
    """Return the rendered package, named by the prefix of a setting both apps are given."""
    [name] = [name for name in os.environ if name.endswith(READS_NEED_A_TOKEN)]
    return name.removesuffix(READS_NEED_A_TOKEN).lower()


def create_app() -> Any:
    """Build the rendered service with reads open: the same GET, without a token to verify."""
    package = _package()
    os.environ[package.upper() + READS_NEED_A_TOKEN] = "false"
    return importlib.import_module(f"{package}.main").create_app()


def prepare(project: Path, out: Path) -> None:
    """Prepare the note, then add the header carrying a development token with `notes:read`."""
    notes.prepare(project, out)
    package = _package()
    settings = importlib.import_module(f"{package}.settings").load_settings()
    dev_token = importlib.import_module(f"{package}.auth.dev_token")
    token = dev_token.issue_dev_token(
        settings, "bench", ["notes:read"], lifetime_seconds=TOKEN_SECONDS
    )
    prepared = json.loads(out.read_text(encoding="utf-8"))
    prepared["headers"] = [["Authorization", f"Bearer {token}"]]
    out.write_text(json.dumps(prepared), encoding="utf-8")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Prepare the authenticated notes benchmark.")
    parser.add_argument("--project", type=Path, required=True, help="the rendered service")
    parser.add_argument("--out", type=Path, required=True, help="where the JSON answer goes")
    arguments = parser.parse_args()
    prepare(arguments.project, arguments.out)
