from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from bot.delivery import FILES_PER_MESSAGE, plan_delivery, summary_line
from pipeline.downloads import verify_download
from pipeline.progress import BatchSummary

SECRET = b"test-secret-key"
CREATED = datetime(2026, 5, 4, 9, 0, 0, 250000, tzinfo=UTC)
KIB = 1024


def make_file(folder: Path, name: str, size: int) -> Path:
    path = folder / name
    path.write_bytes(b"z" * size)
    return path


def test_small_files_share_one_message(tmp_path: Path) -> None:
    files = [make_file(tmp_path, f"part{index}.zip", 10 * KIB) for index in range(3)]

    plan = plan_delivery(
        files,
        batch_id=1,
        batch_created_at=CREATED,
        upload_limit=100 * KIB,
        public_url=None,
        secret=None,
        ttl_seconds=60,
    )

    assert plan.uploads == [files]
    assert plan.links == []


def test_files_are_grouped_under_upload_limit(tmp_path: Path) -> None:
    files = [make_file(tmp_path, f"part{index}.zip", 60 * KIB) for index in range(3)]

    plan = plan_delivery(
        files,
        batch_id=1,
        batch_created_at=CREATED,
        upload_limit=100 * KIB,
        public_url=None,
        secret=None,
        ttl_seconds=60,
    )

    assert plan.uploads == [[files[0]], [files[1]], [files[2]]]


def test_message_holds_at_most_ten_files(tmp_path: Path) -> None:
    files = [make_file(tmp_path, f"f{index}.zip", 10) for index in range(FILES_PER_MESSAGE + 2)]

    plan = plan_delivery(
        files,
        batch_id=1,
        batch_created_at=CREATED,
        upload_limit=100 * KIB,
        public_url=None,
        secret=None,
        ttl_seconds=60,
    )

    assert [len(group) for group in plan.uploads] == [FILES_PER_MESSAGE, 2]


def test_big_file_becomes_signed_link_with_public_url(tmp_path: Path) -> None:
    report = make_file(tmp_path, "report.xlsx", 5 * KIB)
    big = make_file(tmp_path, "batch-9.zip", 200 * KIB)

    plan = plan_delivery(
        [report, big],
        batch_id=9,
        batch_created_at=CREATED,
        upload_limit=100 * KIB,
        public_url="https://midjau.example/",
        secret=SECRET,
        ttl_seconds=3600,
    )

    assert plan.uploads == [[report]]
    assert [name for name, _ in plan.links] == ["batch-9.zip"]
    url = urlsplit(plan.links[0][1])
    assert url.netloc == "midjau.example"
    assert url.path.startswith("/downloads/")
    grant = verify_download(SECRET, url.path.removeprefix("/downloads/"))
    assert grant.batch_id == 9
    assert grant.filename == "batch-9.zip"
    assert grant.made_for(CREATED)


def test_big_file_is_attached_without_public_url(tmp_path: Path) -> None:
    big = make_file(tmp_path, "batch-9.zip", 200 * KIB)

    plan = plan_delivery(
        [big],
        batch_id=9,
        batch_created_at=CREATED,
        upload_limit=100 * KIB,
        public_url=None,
        secret=SECRET,
        ttl_seconds=60,
    )

    assert plan.uploads == [[big]]
    assert plan.links == []


def test_summary_line_counts_rows_and_images() -> None:
    summary = BatchSummary(
        rows_total=30,
        rows_done=27,
        rows_failed=2,
        rows_skipped=1,
        rows_cancelled=0,
        jobs_total=40,
        images=120,
        elapsed_seconds=252,
    )

    line = summary_line(4, "done", summary)

    assert line.startswith("**Batch 4 finished:**")
    assert "27 of 30 rows done" in line
    assert "2 failed" in line
    assert "1 skipped" in line
    assert "cancelled" not in line
    assert "120 images" in line
    assert "4 min 12 s" in line
