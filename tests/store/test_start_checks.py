"""A store `serve` cannot use stops it at start (issue 12, point 4): exit 2 and a message naming the file
or server and what to do, never `internal error` (exit 1) nor a runtime that says ready on a damaged file.

Each case runs `python -m handover_miaw serve` for real: before these checks, a damaged file started and
served (the process did not exit: the run times out), and an unwritable directory exited 1 with
`internal error: OperationalError`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from handover_miaw.store import SqliteStore
from handover_miaw.store.preflight import redacted_url
from tests.processes import free_port
from tests.store.factories import handover, new_delivery


def _serve(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "handover_miaw", "serve", "--insecure-dev", "--port", str(free_port()), *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


async def _real_db(path: Path) -> None:
    """A store file written by the engine, big enough (> 200 KB) that offset 40960 is inside live pages."""
    store = SqliteStore(path)
    await store.open()
    for n in range(150):
        await store.create_handover(handover(f"h{n}", transcript=[{"role": "user", "text": "x" * 600}]))
        await store.record_event(f"h{n}", "e1", {}, [new_delivery(f"d{n}", f"h{n}")])
    await store.close()


async def test_a_damaged_sqlite_file_refuses_to_start(tmp_path: Path) -> None:
    sound = tmp_path / "sound" / "handover-miaw.db"
    sound.parent.mkdir()
    await _real_db(sound)
    assert sound.stat().st_size > 200_000
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    damaged = data_dir / "handover-miaw.db"
    shutil.copyfile(sound, damaged)
    with damaged.open("r+b") as file:
        file.seek(40960)
        file.write(bytes(range(256)) * 32)  # 8 KB

    result = _serve("--data-dir", str(data_dir))
    assert result.returncode == 2, result.stderr
    assert f"the store file {damaged} is damaged" in result.stderr
    assert "restore it from a backup, or move it aside" in result.stderr
    assert "internal error" not in result.stderr


@pytest.mark.parametrize("where", ["under-a-file", "proc"])
def test_a_data_dir_that_cannot_be_written_is_named(tmp_path: Path, where: str) -> None:
    # The tests run as root, whom permission bits do not stop, so each case is one that refuses root too:
    # a directory path under a regular file (ENOTDIR), and /proc, an existing directory in which procfs
    # lets nobody create a file.
    if where == "proc":
        data_dir = Path("/proc")
    else:
        (tmp_path / "a-file").write_text("")
        data_dir = tmp_path / "a-file" / "data"
    result = _serve("--data-dir", str(data_dir))
    assert result.returncode == 2, result.stderr
    assert f"the data directory {data_dir} cannot be written" in result.stderr
    assert "internal error" not in result.stderr


def test_an_unreachable_redis_is_named_without_its_password() -> None:
    port = free_port()  # nothing listens there: a closed port
    result = _serve("--store", f"redis://admin:s3cret-pass@127.0.0.1:{port}/0?namespace=x")
    assert result.returncode == 2, result.stderr
    assert f"the Redis store at redis://admin:***@127.0.0.1:{port}/0 does not answer" in result.stderr
    assert "s3cret-pass" not in result.stderr
    assert "internal error" not in result.stderr


def test_redacted_url_keeps_everything_but_the_password() -> None:
    assert redacted_url("redis://:pw@[::1]:6380/2?x=1") == "redis://:***@[::1]:6380/2?x=1"
    assert redacted_url("rediss://cache.internal:6379/0") == "rediss://cache.internal:6379/0"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("RETENTION_S", "-1"),
        ("DEAD_LETTER_RETENTION_S", "-5"),
        ("RETENTION_S", "nan"),
        ("RETENTION_S", "inf"),
        ("LEASE_TTL_S", "0"),
        ("MIAW_TIMEOUT_S", "0"),
        ("WAL_LIMIT_BYTES", "0"),
        ("TOKEN_WARNING_S", "-30"),
        ("TOKEN_WARNING_S", "nan"),
        ("QUEUE_TIMEOUT_S", "inf"),
        ("HEARTBEAT_TIMEOUT_S", "-1"),
    ],
)
def test_bounds_that_make_no_sense_refuse_the_start(tmp_path: Path, name: str, value: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "handover_miaw", "serve", "--insecure-dev", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env={**os.environ, f"HANDOVER_MIAW_{name}": value},
    )
    assert result.returncode == 2, result.stderr
    assert f"HANDOVER_MIAW_{name}" in result.stderr
