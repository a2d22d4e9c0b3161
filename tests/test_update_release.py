"""``copier update`` from the newest release to this checkout, on a service its owner changed.

The newest release of CHANGELOG.md is a real earlier commit of this repository, found in the
git history by the commit the changelog names (no tag needed: a fresh clone may have none). A
scratch template repository holds that history, the release tagged as copier expects
(``vX.Y.Z``), and on top a commit of exactly this checkout's files, uncommitted changes
included. A PostgreSQL service is rendered as a user renders it (``copier copy`` takes the
newest tag, tasks on), its owner adds what owners add: a resource with its model, migration
(Alembic autogenerate), router and tests, a setting, a dependency (``uv add``). Then
``copier update --vcs-ref HEAD`` brings the current template, and the service must pass its
own checks against a real PostgreSQL with every one of the owner's edits still in place.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from tests.changelog import release_commit, releases
from tests.matrix import Combination
from tests.projects import REPO_ROOT, UV, CommandResult, project_env, run
from tests.update_support import (
    CONFLICT_MARKERS,
    GIT_ENV,
    commit_all,
    copier,
    copy_checkout,
    git,
    isolated_env,
    leftovers,
)

if TYPE_CHECKING:
    from tests.conftest import Projects

PYTHON = "3.12"
ANSWERS = {"database": "postgresql", "logging_backend": "structlog", "python_version": PYTHON}
PACKAGE = "my_service"
SRC = Path("src") / PACKAGE
DEPENDENCY = "python-slugify"
MIGRATION = "migrations/versions/*_0002_create_tags.py"

# The owner's new resource, written after the notes example as the rendered README suggests.
TAGS_FILES = {
    SRC / "tags" / "__init__.py": '''\
"""Tags: labels known by a slug of their name (python-slugify), so `Café Menu` is `cafe-menu`."""
''',
    SRC / "tags" / "models.py": '''\
"""The tags table."""

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from my_service.db.base import Model

NAME_MAX_LENGTH = 64


class Tag(Model):
    """A label; its slug is unique, so two names with the same slug are one tag."""

    __tablename__ = "tags"

    name: Mapped[str] = mapped_column(String(NAME_MAX_LENGTH))
    slug: Mapped[str] = mapped_column(String(NAME_MAX_LENGTH), unique=True)
''',
    SRC / "tags" / "schemas.py": '''\
"""What clients send and receive about tags."""

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from my_service.notes.schemas import WITHOUT_NUL
from my_service.tags.models import NAME_MAX_LENGTH


class TagCreate(BaseModel):
    """A new tag: its name."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=NAME_MAX_LENGTH, pattern=WITHOUT_NUL)


class TagRead(BaseModel):
    """A stored tag."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    slug: str
    created_at: datetime
''',
    SRC / "tags" / "router.py": '''\
"""HTTP endpoints for tags."""

from fastapi import APIRouter, Request, Response, status
from slugify import slugify
from sqlalchemy.exc import IntegrityError

from my_service.db.repository import Repository
from my_service.db.session import Session
from my_service.errors import ConflictError, NotFoundError, ValidationError
from my_service.settings import Settings
from my_service.tags.models import NAME_MAX_LENGTH, Tag
from my_service.tags.schemas import TagCreate, TagRead

router = APIRouter(prefix="/tags", tags=["tags"])


class TagRepository(Repository[Tag]):
    """Tags are found by id or by slug."""

    model = Tag


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_tag(
    data: TagCreate, session: Session, request: Request, response: Response
) -> TagRead:
    """Create a tag; 409 if its slug is taken or the service keeps `max_tags` already."""
    settings: Settings = request.app.state.settings
    slug = slugify(data.name, max_length=NAME_MAX_LENGTH)
    if not slug:
        raise ValidationError(f"The name {data.name!r} has no letters or digits.")
    tags = TagRepository(session)
    if await tags.count() >= settings.max_tags:
        raise ConflictError(
            f"The service keeps at most {settings.max_tags} tags.", error_code="TOO_MANY_TAGS"
        )
    try:
        tag = await tags.create(name=data.name, slug=slug)
    except IntegrityError as error:
        raise ConflictError(
            f"The tag {slug!r} exists.", error_code="TAG_EXISTS", cause=error
        ) from error
    response.headers["Location"] = f"{router.prefix}/{tag.slug}"
    return TagRead.model_validate(tag)


@router.get("/{slug}")
async def get_tag(slug: str, session: Session) -> TagRead:
    """One tag by its slug; 404 if there is none."""
    tag = await TagRepository(session).find_one_by(slug=slug)
    if tag is None:
        raise NotFoundError(f"Tag {slug!r} does not exist.")
    return TagRead.model_validate(tag)
''',
    Path("tests") / "database" / "test_tags_api.py": '''\
"""The tags resource on the real app and database."""

import httpx
import pytest

from my_service.main import create_app
from tests.conftest import SettingsFactory
from tests.database.conftest import serving

pytestmark = pytest.mark.anyio


async def test_create_then_read_by_slug(client: httpx.AsyncClient) -> None:
    created = await client.post("/tags", json={"name": " Café Menu "})

    assert created.status_code == 201, created.text
    assert created.json()["slug"] == "cafe-menu"
    assert created.headers["location"] == "/tags/cafe-menu"
    fetched = await client.get("/tags/cafe-menu")
    assert fetched.status_code == 200
    assert fetched.json() == created.json()


async def test_same_slug_is_a_conflict(client: httpx.AsyncClient) -> None:
    assert (await client.post("/tags", json={"name": "Urgent"})).status_code == 201

    response = await client.post("/tags", json={"name": "urgent!"})

    assert response.status_code == 409
    assert response.json()["error_code"] == "TAG_EXISTS"


async def test_unknown_tag_and_unsluggable_name(client: httpx.AsyncClient) -> None:
    assert (await client.get("/tags/missing")).status_code == 404
    assert (await client.post("/tags", json={"name": "!!!"})).status_code == 422


async def test_at_most_max_tags(database_settings: SettingsFactory) -> None:
    async with serving(create_app(database_settings(max_tags=1))) as client:
        assert (await client.post("/tags", json={"name": "one"})).status_code == 201
        response = await client.post("/tags", json={"name": "two"})

    assert response.status_code == 409
    assert response.json()["error_code"] == "TOO_MANY_TAGS"
''',
}

# Lines the owner adds to rendered files: (file, the line to add after, the added line).
SETTING = (
    '    max_tags: int = Field(default=1000, ge=1, description="Most tags the service keeps")\n'
)
ENV_EXAMPLE_LINES = (
    "\n# Most tags the service keeps; creating one more is refused (409).\n"
    "MY_SERVICE_MAX_TAGS=1000\n"
)
# The rendered tests keep the README's settings tables equal to the settings, as .env.example.
README_ROW = "| `MY_SERVICE_MAX_TAGS` | `1000` | most tags kept; one more is refused (409) |\n"
INSERTIONS = (
    (
        SRC / "main.py",
        "from my_service.settings import Settings, load_settings\n",
        "from my_service.tags.router import router as tags_router\n",
    ),
    (
        SRC / "main.py",
        "    app.include_router(readiness.router)\n",
        "    app.include_router(tags_router)\n",
    ),
    (
        SRC / "db" / "models.py",
        "from my_service.notes.models import Note\n",
        "from my_service.tags.models import Tag\n",
    ),
    (SRC / "settings.py", "    rate_limit: RateLimitSettings = RateLimitSettings()\n", SETTING),
    (Path(".env.example"), "DATABASE_PASSWORD=CHANGE_ME_DATABASE_PASSWORD\n", ENV_EXAMPLE_LINES),
    (
        Path("README.md"),
        "| `MY_SERVICE_VERSION` | package version | version in log lines and error responses "
        "(e.g. a git SHA) |\n",
        README_ROW,
    ),
)
REPLACEMENTS = (
    (SRC / "db" / "models.py", '__all__ = ["Base", "Note"]', '__all__ = ["Base", "Note", "Tag"]'),
)


def release_template(destination: Path) -> str:
    """Build the scratch template repository; return the newest release's tag.

    A clone of this repository (without its tags) where every release of CHANGELOG.md is
    tagged at its commit, and ``main`` carries one more commit: this checkout's files.
    """
    tags = {f"v{section.name}": release_commit(section) for section in releases()}
    newest = f"v{releases()[0].name}"
    head = git(REPO_ROOT, "rev-parse", "HEAD")
    ancestor = run(
        ("git", "merge-base", "--is-ancestor", tags[newest], head), REPO_ROOT, isolated_env()
    )
    assert ancestor.ok, f"the release {newest} ({tags[newest]}) is not in HEAD's history"
    git(destination.parent, "clone", "--quiet", "--no-tags", str(REPO_ROOT), destination.name)
    git(destination, "checkout", "--quiet", "-B", "main", head)
    for tag, commit in tags.items():
        git(destination, "tag", tag, commit)
    git(destination, "rm", "-r", "--quiet", ".")
    copy_checkout(destination)
    commit_all(destination, "The checkout's files, as they are")
    return newest


def owner_edits(project: Path) -> None:
    """Add the tags resource, its wiring, a setting and its documentation."""
    for relative, content in TAGS_FILES.items():
        (project / relative).parent.mkdir(parents=True, exist_ok=True)
        (project / relative).write_text(content, encoding="utf-8")
    for relative, anchor, added in INSERTIONS:
        path = project / relative
        text = path.read_text(encoding="utf-8")
        assert text.count(anchor) == 1, f"{relative} of the release has no line {anchor!r}"
        path.write_text(text.replace(anchor, anchor + added), encoding="utf-8")
    for relative, old, new in REPLACEMENTS:
        path = project / relative
        text = path.read_text(encoding="utf-8")
        assert text.count(old) == 1, f"{relative} of the release has no {old!r}"
        path.write_text(text.replace(old, new), encoding="utf-8")


def conflicts(project: Path) -> str:
    """Describe the update's leftovers: each ``.rej`` file, and each conflict with context."""
    report: list[str] = []
    for relative in leftovers(project):
        lines = (project / relative).read_text(encoding="utf-8", errors="replace").splitlines()
        if relative.endswith(".rej"):
            report += [f"--- {relative}", *lines]
            continue
        marked = [i for i, line in enumerate(lines) if line.startswith(CONFLICT_MARKERS)]
        report.append(f"--- {relative}: conflict markers at lines {[i + 1 for i in marked]}")
        report += lines[max(marked[0] - 3, 0) : marked[-1] + 4]
    return "\n".join(report)


def checked(result: CommandResult) -> CommandResult:
    """Fail the test with the command's output unless it succeeded."""
    result.assert_ok()
    return result


def owners_files(project: Path) -> dict[Path, str]:
    """Return the files the owner created (the resource, its tests, the migration)."""
    created = [project / relative for relative in TAGS_FILES] + list(project.glob(MIGRATION))
    return {path: path.read_text(encoding="utf-8") for path in created}


def test_update_from_the_newest_release_keeps_the_owners_service_working(
    tmp_path: Path, projects: Projects
) -> None:
    """Release, owner's edits, update to this checkout: the checks pass, the edits survive."""
    template = tmp_path / "template"
    tag = release_template(template)
    database = projects.databases.env_for(Combination(answers=ANSWERS, id="update-release"))
    env = project_env(PYTHON) | GIT_ENV
    # Alembic reads the database URL from the service's settings, as in the owner's shell.
    alembic_env = env | {"MY_SERVICE_DATABASE__URL": database["TEST_DATABASE_URL"]}
    answers = tmp_path / "my-service" / ".copier-answers.yml"

    # A user renders the template with its tasks; copier takes the newest tag.
    project = tmp_path / "my-service"
    data = [arg for key, value in ANSWERS.items() for arg in ("--data", f"{key}={value}")]
    copier("copy", "--trust", "--defaults", *data, template, project, cwd=tmp_path, env=env)
    assert re.search(rf"^_commit: {re.escape(tag)}$", answers.read_text(), re.MULTILINE)
    assert git(project, "status", "--porcelain") == "", "the render is committed"

    # The owner adds a dependency, the tags resource and its migration, and commits.
    checked(run((UV, "add", DEPENDENCY), project, env))
    owner_edits(project)
    checked(run((UV, "run", "alembic", "upgrade", "head"), project, alembic_env))
    revision = ("alembic", "revision", "--autogenerate", "--rev-id", "0002", "-m", "create tags")
    checked(run((UV, "run", *revision), project, alembic_env))
    git(project, "add", "--all")
    git(project, "commit", "--quiet", "-m", "Tags: model, migration, router, setting, slugify")
    owners = owners_files(project)
    assert len(owners) == len(TAGS_FILES) + 1, "alembic wrote no 0002 migration"

    # The update to this checkout's template.
    result = copier("update", "--trust", "--defaults", "--vcs-ref", "HEAD", cwd=project, env=env)
    output = result.stdout + result.stderr
    assert leftovers(project) == [], f"{output}\n{conflicts(project)}"
    described = git(template, "describe", "--tags")
    assert re.search(rf"^_commit: {re.escape(described)}$", answers.read_text(), re.MULTILINE)

    # Every edit of the owner is still there.
    assert owners_files(project) == owners
    for relative, _anchor, added in INSERTIONS:
        assert added in (project / relative).read_text(encoding="utf-8"), (relative, added)
    for relative, _old, new in REPLACEMENTS:
        assert new in (project / relative).read_text(encoding="utf-8"), (relative, new)
    assert f'"{DEPENDENCY}>=' in (project / "pyproject.toml").read_text(encoding="utf-8")

    # The owner's migration is the head, on top of the template's.
    checked(run((UV, "sync"), project, env))
    heads = checked(run((UV, "run", "alembic", "heads"), project, env)).output
    assert heads.split() == ["0002", "(head)"], heads
    history = checked(run((UV, "run", "alembic", "history"), project, env)).output
    assert re.search(r"^0001 -> 0002 \(head\), create tags$", history, re.MULTILINE), history

    # The service passes its own checks, its tests against a real PostgreSQL.
    for argv in (
        ("ruff", "check", "."),
        ("ruff", "format", "--check", "."),
        ("mypy",),
        ("pytest", "-W", "error", "-p", "no:cacheprovider"),
    ):
        checked(run((UV, "run", *argv), project, env | database))
