"""SQLite's writers queue on a lock file of ours (bot.store.db.SqliteWriterLock), across processes:
`serve` storing webhooks and a `contato-bot worker` ingesting them take turns on the one write lock
without SQLite's busy handler, which sleeps with growing back-off instead of waking the next
writer when the lock frees (POST p99 of 744 ms in bench.webhooks before)."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from bot.store.db import SqliteWriterLock, Store

HOLDER = """
import sys
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from bot.store.db import Store
store = Store.from_url(sys.argv[1])
with store.session() as session:
    session.execute(text("INSERT INTO marks (who) VALUES ('holder')"))
    print("held", flush=True)
    sys.stdin.readline()  # the test says when to commit
"""


@pytest.fixture
def database(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    path = tmp_path / "contato.db"
    store = Store.from_url(f"sqlite:///{path}")
    with store.session() as session:
        session.execute(text("CREATE TABLE marks (who TEXT NOT NULL)"))
    store.dispose()
    yield f"sqlite:///{path}", Path(str(path) + "-writer.lock")


def start_holder(url: str) -> subprocess.Popen[str]:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    return holder


def lock_file_is_free(path: Path) -> bool:
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return True
    finally:
        os.close(fd)


def write_in_thread(store: Store, who: str) -> threading.Event:
    done = threading.Event()

    def write() -> None:
        with store.session() as session:
            session.execute(text("INSERT INTO marks (who) VALUES (:who)"), {"who": who})
        done.set()

    threading.Thread(target=write, daemon=True).start()
    return done


def marks(store: Store) -> list[str]:
    with store.session() as session:
        return sorted(session.scalars(text("SELECT who FROM marks")))


def test_a_writer_in_another_process_holds_the_lock_file_and_the_next_one_goes_when_it_commits(
    database: tuple[str, Path],
) -> None:
    url, lock_path = database
    holder = start_holder(url)
    store = Store.from_url(url)
    try:
        assert not lock_file_is_free(lock_path)  # held for the whole transaction, not per statement
        done = write_in_thread(store, "waiter")
        assert not done.wait(0.3)  # queued behind the other process's transaction
        assert holder.stdin is not None
        holder.stdin.write("\n")
        holder.stdin.flush()
        assert holder.wait(timeout=30) == 0
        assert done.wait(30)
        assert marks(store) == ["holder", "waiter"]
        assert lock_file_is_free(lock_path)  # released with the session
    finally:
        holder.kill()
        store.dispose()


def test_a_writer_killed_mid_transaction_frees_the_lock_and_its_write_is_rolled_back(
    database: tuple[str, Path],
) -> None:
    url, lock_path = database
    holder = start_holder(url)
    store = Store.from_url(url)
    try:
        done = write_in_thread(store, "waiter")
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
        assert done.wait(30)  # the kernel released the dead process's lock
        assert marks(store) == ["waiter"]
        assert lock_file_is_free(lock_path)
    finally:
        store.dispose()


def test_the_lock_is_reentrant_in_a_thread_and_takes_the_file_once(tmp_path: Path) -> None:
    database = tmp_path / "x.db"
    lock = SqliteWriterLock(str(database))
    lock.acquire()
    lock.acquire()
    lock.release()
    assert not lock_file_is_free(tmp_path / "x.db-writer.lock")  # the outer hold keeps the file
    lock.release()
    assert lock_file_is_free(tmp_path / "x.db-writer.lock")


def test_an_in_memory_database_has_no_lock_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    lock = SqliteWriterLock(":memory:")
    lock.acquire()
    lock.release()
    assert list(tmp_path.iterdir()) == []


def test_a_read_session_answers_while_another_process_writes_and_sees_the_last_commit(
    database: tuple[str, Path],
) -> None:
    """The screen reads through `read_session`: not queued behind an ingestion batch."""
    url, _ = database
    store = Store.from_url(url)
    with store.session() as session:
        session.execute(text("INSERT INTO marks (who) VALUES ('committed')"))
    holder = start_holder(url)
    try:
        seen: list[str] = []
        done = threading.Event()

        def read() -> None:
            with store.read_session() as session:
                seen.extend(session.scalars(text("SELECT who FROM marks")))
            done.set()

        threading.Thread(target=read, daemon=True).start()
        assert done.wait(10)  # while the holder still holds the write lock
        assert seen == ["committed"]  # its uncommitted row is not seen
    finally:
        holder.kill()
        holder.wait(timeout=30)
        store.dispose()


def test_a_read_session_refuses_to_write(database: tuple[str, Path]) -> None:
    url, _ = database
    store = Store.from_url(url)
    try:
        with pytest.raises(OperationalError, match="readonly"), store.read_session() as session:
            session.execute(text("INSERT INTO marks (who) VALUES ('reader')"))
        assert marks(store) == []
    finally:
        store.dispose()


def test_read_session_is_a_session_on_an_in_memory_database() -> None:
    store = Store.from_url("sqlite://")
    with store.read_session() as session:
        session.execute(text("CREATE TABLE t (x INTEGER)"))  # the one database there is: writable
    store.dispose()
