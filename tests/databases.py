"""Databases for the rendered projects' own tests: one per combination, never shared.

A combination whose ``database`` answer is a server (``postgresql``, or ``mysql`` tested on
MariaDB) gets a fresh, empty database on the server ``.ci/run`` starts, named after the
combination and this process, so two xdist workers, or two test sessions on one machine, never
use the same one. Its URL reaches the rendered project as ``TEST_DATABASE_URL`` (the rendered
suite fails, never skips, without it); every database is dropped when the session ends. The
servers are reached with their command-line clients, which come with the server packages, so
the template's own environment needs no database driver.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from tests.matrix import Combination

POSTGRES = {"host": "127.0.0.1", "port": "5432", "user": "postgres"}  # trust authentication
MARIADB = {"host": "127.0.0.1", "port": "3306", "user": "root"}  # empty password
_TIMEOUT_S = 60
_START_SERVERS = (
    ".ci/run starts PostgreSQL at 127.0.0.1:5432 (user postgres, trust) and MariaDB at "
    "127.0.0.1:3306 (root, empty password); start them, or run .ci/run."
)


class DatabaseSetupError(RuntimeError):
    """A test database could not be created; the message says which server to start."""


def _run(argv: list[str], env: Mapping[str, str] | None = None) -> None:
    if shutil.which(argv[0]) is None:
        raise DatabaseSetupError(f"`{argv[0]}` is not installed. {_START_SERVERS}")
    result = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=_TIMEOUT_S,
        check=False,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
    )
    if result.returncode != 0:
        raise DatabaseSetupError(
            f"`{' '.join(argv)}` failed ({result.returncode}): {result.stderr.strip()}. "
            f"{_START_SERVERS}"
        )


def _postgres(sql: str) -> None:
    _run(
        [
            "psql",
            *("-h", POSTGRES["host"], "-p", POSTGRES["port"], "-U", POSTGRES["user"]),
            *("-d", "postgres", "-v", "ON_ERROR_STOP=1", "-q", "-c", sql),
        ],
        env={"PGCONNECT_TIMEOUT": "10"},
    )


def _mariadb(sql: str) -> None:
    _run(
        [
            "mysql",
            *("-h", MARIADB["host"], "-P", MARIADB["port"], "-u", MARIADB["user"]),
            *("--connect-timeout=10", "-e", sql),
        ]
    )


def database_name(combination_id: str, pid: int | None = None) -> str:
    """Return a database name unique to the combination and to this process.

    It is valid on both servers: ``[a-z0-9_]``, at most 63 characters.
    """
    slug = re.sub(r"[^a-z0-9]+", "_", combination_id.lower()).strip("_")
    return f"t_{slug[:45]}_{os.getpid() if pid is None else pid}"


@dataclass
class Databases:
    """Creates one database per server-backed combination, and drops them all at the end."""

    _drops: list[Callable[[], None]] = field(default_factory=list)

    def env_for(self, combination: Combination) -> dict[str, str]:
        """Return ``TEST_DATABASE_URL`` for a fresh, empty database of the combination's server.

        ``sqlite`` (the rendered tests use a temporary file) and ``none`` need nothing.
        """
        database = combination.answers.get("database")
        name = database_name(combination.id)
        if database == "postgresql":
            _postgres(f'DROP DATABASE IF EXISTS "{name}"')
            _postgres(f'CREATE DATABASE "{name}"')
            self._drops.append(lambda: _postgres(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            url = f"postgresql://{POSTGRES['user']}@{POSTGRES['host']}:{POSTGRES['port']}/{name}"
            return {"TEST_DATABASE_URL": url}
        if database == "mysql":
            _mariadb(
                f"DROP DATABASE IF EXISTS `{name}`; "
                f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
            )
            self._drops.append(lambda: _mariadb(f"DROP DATABASE IF EXISTS `{name}`"))
            url = f"mysql://{MARIADB['user']}@{MARIADB['host']}:{MARIADB['port']}/{name}"
            return {"TEST_DATABASE_URL": url}
        return {}

    def drop_all(self) -> None:
        """Drop every database this session created (the last created first)."""
        while self._drops:
            self._drops.pop()()
