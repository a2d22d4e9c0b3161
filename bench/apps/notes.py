"""The reference for issue 3's benchmark: GET a note by id with the smallest FastAPI + SQLAlchemy.

``create_app`` is what a developer writes in ten minutes: one model mapped onto the service's
``notes`` table, a session per request from ``async_sessionmaker``, ``session.get`` by primary
key, a pydantic response model. It runs the same query on the same row as the service, with a
pool of the same size, so the difference measured is the service's own code: its router ->
service -> repository layers, its session dependency (COMMIT after the handler), its pool's
idle-only pre-ping and its middleware.

``python -m bench.apps.notes --project DIR --out FILE`` prepares the data: it creates the
database named by ``BENCH_DATABASE_URL`` afresh, migrates it with the service's own Alembic
migrations, inserts one note and writes the path to ask and the JSON both apps must answer.
"""

# No `from __future__ import annotations`: FastAPI reads the endpoint's annotations at runtime,
# and `get_session` is local to `create_app`.
import argparse
import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException
from pydantic import BaseModel, ConfigDict
from sqlalchemy import DateTime, make_url, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

DATABASE_URL_ENV = "BENCH_DATABASE_URL"
# The service's default pool (PostgreSQL); the plain app gets the same number of connections.
POOL_SIZE = 20
MAX_OVERFLOW = 0


class Base(DeclarativeBase):
    """The plain app's own declarative base."""


class Note(Base):
    """The columns of the service's ``notes`` table that the answer shows."""

    __tablename__ = "notes"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    title: Mapped[str]
    body: Mapped[str]
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class NoteOut(BaseModel):
    """The answer, field for field the service's ``NoteRead``."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    title: str
    body: str
    created_at: datetime
    updated_at: datetime


def create_app() -> FastAPI:
    """Build the minimal app: an engine, a session per request, one GET by primary key."""
    engine = create_async_engine(
        os.environ[DATABASE_URL_ENV], pool_size=POOL_SIZE, max_overflow=MAX_OVERFLOW
    )
    sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def get_session() -> AsyncIterator[AsyncSession]:
        async with sessions() as session:
            yield session

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await engine.dispose()

    app = FastAPI(lifespan=lifespan)

    @app.get("/notes/{note_id}")
    async def get_note(
        note_id: uuid.UUID, session: Annotated[AsyncSession, Depends(get_session)]
    ) -> NoteOut:
        note = await session.get(Note, note_id)
        if note is None:
            raise HTTPException(status_code=404)
        return NoteOut.model_validate(note)

    return app


async def recreate_database(url: str) -> None:
    """Drop and create the benchmark's database, so every run starts from the same state."""
    target = make_url(url)
    admin = create_async_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            name = target.database
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        await admin.dispose()


async def insert_note(url: str) -> dict[str, object]:
    """Insert the one note both apps read, and return the JSON they must answer with it."""
    engine = create_async_engine(url)
    try:
        async with async_sessionmaker(engine)() as session, session.begin():
            now = datetime.now(UTC)
            note = Note(
                id=uuid.uuid4(),
                title="Benchmark note",
                body="Read by id, over and over, by both apps.",
                created_at=now,
                updated_at=now,
            )
            session.add(note)
            await session.flush()
            expected: dict[str, object] = NoteOut.model_validate(note).model_dump(mode="json")
    finally:
        await engine.dispose()
    return expected


def prepare(project: Path, out: Path) -> None:
    """Create, migrate and fill the database; write the path and the expected answer."""
    url = os.environ[DATABASE_URL_ENV]
    asyncio.run(recreate_database(url))
    migrate = [sys.executable, "-m", "alembic", "upgrade", "head"]
    completed = subprocess.run(migrate, cwd=project, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"alembic upgrade head failed:\n{completed.stdout}{completed.stderr}")
    expected = asyncio.run(insert_note(url))
    path = f"/notes/{expected['id']}"
    out.write_text(json.dumps({"path": path, "expected_json": expected}), encoding="utf-8")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Prepare the notes benchmark's database.")
    parser.add_argument("--project", type=Path, required=True, help="the rendered service")
    parser.add_argument("--out", type=Path, required=True, help="where the JSON answer goes")
    arguments = parser.parse_args()
    prepare(arguments.project, arguments.out)
