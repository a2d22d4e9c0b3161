"""A small Dockerfile reader, so tests can run a rendered Dockerfile's steps without Docker.

There is no Docker engine where the template is tested. Instead of trusting the Dockerfile,
the tests replay its build stage in a sandbox directory: ``ENV`` and ``WORKDIR`` are applied,
``COPY`` of project files copies them, and ``RUN`` commands run through ``sh`` with their
``--mount`` options dropped (a cache mount only speeds Docker up). Absolute paths of the image
(``/app``, ``/src``) are mapped under the sandbox.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

INSTRUCTION = re.compile(r"^(?P<keyword>[A-Za-z]+)\s+(?P<args>.*)$", re.DOTALL)


@dataclass(frozen=True)
class Instruction:
    """One Dockerfile instruction, continuation lines joined."""

    keyword: str
    args: str

    def exec_form(self) -> list[str] | None:
        """Return the JSON (exec-form) argument list, or None for the shell form."""
        text = self.args
        if self.keyword == "HEALTHCHECK":
            text = text[text.index("CMD") + len("CMD") :].strip() if "CMD" in text else ""
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            return None
        return value if isinstance(value, list) else None


@dataclass
class Stage:
    """A build stage: its base image, name and instructions."""

    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        """Return the stage's instructions with ``keyword``."""
        return [i for i in self.instructions if i.keyword == keyword]

    def env(self) -> dict[str, str]:
        """Return the variables the stage's ``ENV`` instructions set (``$PATH`` unexpanded)."""
        values: dict[str, str] = {}
        for instruction in self.all("ENV"):
            for assignment in shlex.split(instruction.args):
                key, _, value = assignment.partition("=")
                values[key] = value
        return values


def parse(dockerfile: str) -> list[Stage]:
    """Split a Dockerfile into stages of instructions."""
    logical: list[str] = []
    current = ""
    for raw in dockerfile.splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    stages: list[Stage] = []
    for line in logical:
        match = INSTRUCTION.match(line)
        if match is None:
            raise ValueError(f"not a Dockerfile instruction: {line!r}")
        instruction = Instruction(match["keyword"].upper(), " ".join(match["args"].split()))
        if instruction.keyword == "FROM":
            words = instruction.args.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base=words[0], name=name))
        elif stages:
            stages[-1].instructions.append(instruction)
    return stages


def drop_mounts(command: str) -> str:
    """Remove BuildKit ``--mount=...`` options from a ``RUN`` command."""
    words = shlex.split(command)
    return shlex.join(word for word in words if not word.startswith("--mount="))


@dataclass
class Sandbox:
    """Replays a build stage under ``root``, mapping the image's absolute paths into it."""

    root: Path
    project: Path
    base_env: Mapping[str, str]
    workdir: Path = field(init=False)
    env: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        """Start at the sandbox root with the base environment."""
        self.workdir = self.root
        self.env = dict(self.base_env)

    def path(self, image_path: str) -> Path:
        """Map an image path (absolute, or relative to the current WORKDIR) into the sandbox."""
        if image_path.startswith("/"):
            return self.root / image_path.lstrip("/")
        return self.workdir / image_path

    def map_value(self, value: str) -> str:
        """Map the image paths in an ``ENV`` value (``/app/...``) into the sandbox."""
        return re.sub(r"(?<![\w$])/(app|src)\b", lambda m: str(self.root / m.group(1)), value)

    def apply(self, instruction: Instruction) -> subprocess.CompletedProcess[str] | None:
        """Apply one build-stage instruction; return the result of a ``RUN``."""
        if instruction.keyword == "ENV":
            for key, value in Stage("", None, [instruction]).env().items():
                self.env[key] = self.map_value(value)
        elif instruction.keyword == "WORKDIR":
            self.workdir = self.path(instruction.args)
            self.workdir.mkdir(parents=True, exist_ok=True)
        elif instruction.keyword == "COPY" and "--from=" not in instruction.args:
            *sources, destination = shlex.split(instruction.args)
            target = self.path(destination)
            for source in sources:
                origin = self.project / source
                if origin.is_dir():
                    shutil.copytree(origin, target, dirs_exist_ok=True)
                else:
                    target.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(origin, target / origin.name)
        elif instruction.keyword == "RUN":
            return subprocess.run(
                ["sh", "-c", drop_mounts(instruction.args)],
                cwd=self.workdir,
                env=self.env,
                capture_output=True,
                text=True,
                check=False,
                stdin=subprocess.DEVNULL,
            )
        return None
