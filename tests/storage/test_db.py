"""The database: migrations, model/migration drift, round trips and cascades."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, delete, func, inspect, select, text
from sqlalchemy.exc import IntegrityError, StatementError

from storage.db import Database, alembic_config
from storage.models import (
    Base,
    Batch,
    BatchOrigin,
    BatchStatus,
    Image,
    ImageKind,
    Job,
    JobStatus,
    MidjourneyConnection,
    RowStatus,
    SheetRow,
    User,
)


async def add_graph(db: Database) -> dict[str, int | str]:
    """Store a user with a connection, a batch, a row, a job and an image; return their ids."""
    async with db.sessions() as session:
        user = User(discord_user_id="1001", display_name="Ada")
        connection = MidjourneyConnection(
            user=user, guild_id="11", channel_id="22", token_ciphertext=b"ciphertext"
        )
        session.add_all([user, connection])
        await session.flush()
        batch = Batch(
            user_id=user.id,
            connection_id=connection.id,
            origin=BatchOrigin.DISCORD,
            status=BatchStatus.RUNNING,
            source_filename="prompts.xlsx",
            headers=["prompt", "folder"],
        )
        row = SheetRow(
            batch=batch, row_number=2, values={"prompt": "a cat"}, status=RowStatus.ACCEPTED
        )
        job = Job(
            id=str(uuid.uuid4()),
            batch=batch,
            row=row,
            connection_id=connection.id,
            sequence=1,
            prompt="a cat --ar 16:9",
            status=JobStatus.DONE,
        )
        image = Image(job=job, kind=ImageKind.GRID, index=0, blob_key="b/1/grid.png")
        session.add_all([batch, row, job, image])
        await session.commit()
        return {
            "user": user.id,
            "connection": connection.id,
            "batch": batch.id,
            "row": row.id,
            "job": job.id,
            "image": image.id,
        }


async def count(db: Database, model: type[Base]) -> int:
    async with db.sessions() as session:
        return await session.scalar(select(func.count()).select_from(model)) or 0


async def test_upgrade_creates_model_tables(db: Database) -> None:
    async with db.engine.connect() as connection:
        tables = await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))

    assert tables == set(Base.metadata.tables) | {"alembic_version"}


async def test_models_match_migrations(db: Database) -> None:
    def differences(connection: Connection) -> list[object]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, Base.metadata)

    async with db.engine.connect() as connection:
        diff = await connection.run_sync(differences)

    assert diff == [], "models and migrations differ; write a new Alembic revision"


async def test_upgrade_twice_keeps_head(db: Database) -> None:
    await db.upgrade()

    async with db.engine.connect() as connection:
        versions = (await connection.execute(text("SELECT version_num FROM alembic_version"))).all()
    head = ScriptDirectory.from_config(alembic_config(db.url)).get_current_head()
    assert versions == [(head,)]


@pytest.fixture
def other_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Change the working directory to an empty folder for the test."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    monkeypatch.chdir(folder)
    return folder


async def test_upgrade_works_from_any_directory(tmp_path: Path, other_directory: Path) -> None:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'nested' / 'folder' / 'midjau.db'}")
    try:
        await database.upgrade()
        assert await count(database, User) == 0
    finally:
        await database.dispose()

    assert await asyncio.to_thread((tmp_path / "nested" / "folder" / "midjau.db").is_file)


async def test_upgrade_in_memory_sqlite() -> None:
    database = Database("sqlite+aiosqlite://")
    try:
        await database.upgrade()
        ids = await add_graph(database)
        assert await count(database, Image) == 1
        assert ids["batch"] == 1
    finally:
        await database.dispose()


async def test_sqlite_connection_settings(tmp_path: Path) -> None:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'midjau.db'}")
    try:
        async with database.engine.connect() as connection:
            journal = await connection.scalar(text("PRAGMA journal_mode"))
            foreign_keys = await connection.scalar(text("PRAGMA foreign_keys"))
            busy_timeout = await connection.scalar(text("PRAGMA busy_timeout"))
    finally:
        await database.dispose()

    assert journal == "wal"
    assert foreign_keys == 1
    assert busy_timeout >= 1000


async def test_json_round_trip(db: Database) -> None:
    values = {"prompt": "a café ☕ at dusk", "seed": "0042", "nested": {"list": [1, "two", None]}}
    ids = await add_graph(db)
    async with db.sessions() as session:
        row = await session.get(SheetRow, ids["row"])
        assert row is not None
        row.values = values
        row.upscales = [1, 3]
        await session.commit()

    async with db.sessions() as session:
        stored = await session.get(SheetRow, ids["row"], populate_existing=True)
        assert stored is not None
        assert stored.values == values
        assert stored.upscales == [1, 3]


async def test_datetime_round_trip_is_utc(db: Database) -> None:
    sent = datetime(2025, 3, 1, 12, 30, 15, 123456, tzinfo=UTC)
    finished_elsewhere = datetime(2025, 3, 1, 15, 0, tzinfo=timezone(timedelta(hours=2)))
    ids = await add_graph(db)
    async with db.sessions() as session:
        job = await session.get(Job, ids["job"])
        assert job is not None
        job.sent_at = sent
        job.finished_at = finished_elsewhere
        await session.commit()

    async with db.sessions() as session:
        stored = await session.get(Job, ids["job"], populate_existing=True)
        assert stored is not None
        assert stored.sent_at == sent
        assert stored.sent_at is not None and stored.sent_at.utcoffset() == timedelta(0)
        assert stored.finished_at == finished_elsewhere
        assert stored.created_at.utcoffset() == timedelta(0)


async def test_naive_datetime_is_rejected(db: Database) -> None:
    ids = await add_graph(db)
    async with db.sessions() as session:
        job = await session.get(Job, ids["job"])
        assert job is not None
        job.sent_at = datetime(2025, 3, 1, 12, 0)
        with pytest.raises(StatementError, match="naive datetime"):
            await session.commit()


async def test_deleting_user_cascades_to_batch_data(db: Database) -> None:
    ids = await add_graph(db)
    async with db.sessions() as session:
        await session.execute(delete(User).where(User.id == ids["user"]))
        await session.commit()

    for model in (MidjourneyConnection, Batch, SheetRow, Job, Image):
        assert await count(db, model) == 0, model.__name__


async def test_deleting_batch_through_orm_cascades(db: Database) -> None:
    ids = await add_graph(db)
    async with db.sessions() as session:
        batch = await session.get(Batch, ids["batch"])
        await session.delete(batch)
        await session.commit()

    for model in (Batch, SheetRow, Job, Image):
        assert await count(db, model) == 0, model.__name__
    assert await count(db, User) == 1


async def test_ids_of_deleted_rows_are_not_reused(db: Database) -> None:
    first = await add_graph(db)
    async with db.sessions() as session:
        await session.execute(delete(User).where(User.id == first["user"]))
        await session.commit()

    second = await add_graph(db)

    for name in ("user", "connection", "batch", "image"):
        assert int(second[name]) > int(first[name]), name


async def test_deleting_connection_keeps_batch(db: Database) -> None:
    ids = await add_graph(db)
    async with db.sessions() as session:
        await session.execute(
            delete(MidjourneyConnection).where(MidjourneyConnection.id == ids["connection"])
        )
        await session.commit()

    async with db.sessions() as session:
        batch = await session.get(Batch, ids["batch"])
        job = await session.get(Job, ids["job"])
        assert batch is not None and batch.connection_id is None
        assert job is not None and job.connection_id is None


async def test_missing_parent_is_rejected(db: Database) -> None:
    async with db.sessions() as session:
        session.add(
            Batch(
                user_id=999,
                origin=BatchOrigin.API,
                status=BatchStatus.QUEUED,
                source_filename="x.csv",
            )
        )
        with pytest.raises(IntegrityError):
            await session.commit()
