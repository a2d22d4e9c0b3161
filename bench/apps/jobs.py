"""The jobs benchmark's preparation, run in the rendered venv: a note to read, jobs to run.

``python -m bench.apps.jobs prepare --project DIR --out FILE`` creates the
database of ``BENCH_DATABASE_URL`` afresh, migrates it with the service's own Alembic migrations
and inserts one note (``bench.apps.notes`` does all three), then writes the note's id.

``python -m bench.apps.jobs enqueue --note-id ID --jobs N --package PKG`` empties the service's
queue (its keys in Redis start with the service's name, ``<PREFIX>SERVICE_NAME``) and queues
``N`` ``note_created`` jobs for that note through the service's own ``JobQueue.enqueue``, so the
messages are exactly those the API sends.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import uuid
from pathlib import Path

from redis.asyncio import Redis

from bench.apps import notes


async def empty_queue(package: str) -> str:
    """Delete every key of the service's queue (stream, consumer group, claim lock).

    A stream left over from an interrupted run would hand its jobs to the measured worker.
    """
    settings = importlib.import_module(f"{package}.settings").load_settings()
    prefix = f"{settings.service_name}:"
    async with Redis.from_url(settings.jobs.redis_url.get_secret_value()) as redis:
        keys = [key async for key in redis.scan_iter(match=f"{prefix}*")]
        if keys:
            await redis.delete(*keys)
    return prefix


async def enqueue(package: str, note_id: uuid.UUID, jobs: int) -> int:
    """Queue ``jobs`` ``note_created`` jobs with the service's ``JobQueue``; return how many."""
    await empty_queue(package)
    settings = importlib.import_module(f"{package}.settings").load_settings()
    broker = importlib.import_module(f"{package}.jobs.broker")
    note_created = importlib.import_module(f"{package}.notes.jobs").note_created
    queued = 0
    async with broker.JobQueue(settings) as queue:
        for _ in range(jobs):
            if await queue.enqueue(note_created, note_id) is not None:
                queued += 1
    if queued != jobs:
        raise RuntimeError(f"only {queued} of {jobs} jobs were queued (is Redis up?)")
    return queued


def prepare(project: Path, out: Path) -> None:
    """Create, migrate and fill the database; write the id of the note the jobs read."""
    notes.prepare(project, out)
    prepared = json.loads(out.read_text(encoding="utf-8"))
    out.write_text(json.dumps({"note_id": prepared["expected_json"]["id"]}), encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    """Run one of the two steps."""
    parser = argparse.ArgumentParser(description="Prepare the jobs benchmark.")
    steps = parser.add_subparsers(dest="step", required=True)
    prepare_step = steps.add_parser("prepare", help="create the database and its note")
    prepare_step.add_argument("--project", type=Path, required=True, help="the rendered service")
    prepare_step.add_argument("--out", type=Path, required=True, help="where the note id goes")
    enqueue_step = steps.add_parser("enqueue", help="empty the queue, then queue the jobs")
    enqueue_step.add_argument("--package", required=True, help="the rendered package")
    enqueue_step.add_argument("--note-id", type=uuid.UUID, required=True)
    enqueue_step.add_argument("--jobs", type=int, required=True)
    arguments = parser.parse_args(argv)
    if arguments.step == "prepare":
        prepare(arguments.project, arguments.out)
    else:
        asyncio.run(enqueue(arguments.package, arguments.note_id, arguments.jobs))


if __name__ == "__main__":
    main()
