"""Test databases on the real PostgreSQL server: created per test, cloned from templates built
once per run, dropped in the background.

Cloning (`CREATE DATABASE ... TEMPLATE`) costs about as much as creating an empty database,
far less than migrating one or loading the demo. Dropping is the slow part (PostgreSQL 15
forces a checkpoint on every DROP DATABASE): a reaper thread drops the databases of finished
tests in batches issued together, so tests never wait for it and a batch shares one checkpoint
(one by one, drops cost ~0.1-1 s each on a busy server; 16 together, about as much as one).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import queue
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any, TypeVar
from urllib.parse import urlsplit

import asyncpg

T = TypeVar("T")

# The server the tests run against; `make test` makes sure one answers here.
ADMIN_DSN = os.environ.get("TEST_PG_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
# Every DROP DATABASE waits for a checkpoint; drops issued together share one. The reaper
# gathers what finished tests hand over for a short window, then drops up to a batch at once
# (each drop holds one admin connection while it runs).
DROP_BATCH = 16
DROP_WINDOW_S = 0.25


def dsn_for(database: str) -> str:
    """The admin DSN pointed at another database on the same server."""
    base, _, _ = ADMIN_DSN.rpartition("/")
    return f"{base}/{database}"


def name_of(dsn: str) -> str:
    """The database name of a DSN."""
    return dsn.rsplit("/", 1)[-1]


def odbc_url(dsn: str) -> str:
    """The same database through psqlODBC: a PROTHEUS_DB_URL of the odbc:// form."""
    parts = urlsplit(dsn)
    return (
        "odbc://DRIVER={PostgreSQL Unicode};"
        f"SERVER={parts.hostname};PORT={parts.port or 5432};DATABASE={parts.path.lstrip('/')};"
        f"UID={parts.username or 'postgres'};PWD={parts.password or ''}"
    )


def new_name(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:16]}"


def run_async(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to the end from synchronous code, on a loop of its own thread
    (a test's event loop is not running at fixture time and must not be replaced)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(make())).result()


async def create_database(prefix: str = "t_", *, template: str | None = None) -> str:
    """A new database on the test server, empty or cloned from `template` (a database
    nobody is connected to); its DSN."""
    name = new_name(prefix)
    clause = f' TEMPLATE "{template}"' if template else ""
    admin = await asyncpg.connect(ADMIN_DSN)
    try:
        for attempt in range(50):
            try:
                await admin.execute(f'CREATE DATABASE "{name}"{clause}')
                break
            except asyncpg.ObjectInUseError:  # the template's builder still disconnecting
                if attempt == 49:
                    raise
                await asyncio.sleep(0.1)
    finally:
        await admin.close()
    return dsn_for(name)


async def drop_databases(dsns: Iterable[str], *, concurrency: int = DROP_BATCH) -> None:
    """Drop databases now, concurrently (connections to them are terminated)."""
    names = [name_of(dsn) for dsn in dsns]
    slots = asyncio.Semaphore(concurrency)

    async def drop(name: str) -> None:
        async with slots:
            admin = await asyncpg.connect(ADMIN_DSN)
            try:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            finally:
                await admin.close()

    results = await asyncio.gather(*(drop(name) for name in names), return_exceptions=True)
    failures = [result for result in results if isinstance(result, BaseException)]
    if failures:  # the others are dropped all the same
        raise failures[0]


class Reaper:
    """Drops databases handed to it on a thread of its own, batch by batch, concurrently."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="db-reaper", daemon=True)
        self._errors: list[BaseException] = []
        self._thread.start()

    def drop(self, dsns: Iterable[str]) -> None:
        for dsn in dsns:
            self._queue.put(dsn)

    def close(self) -> None:
        """Wait until every database handed over is dropped."""
        self._queue.put(None)
        self._thread.join()
        if self._errors:
            raise self._errors[0]

    def _run(self) -> None:
        pending: list[str] = []
        closing = False
        while pending or not closing:
            if not pending:
                item = self._queue.get()
                if item is None:
                    break
                pending.append(item)
            deadline = time.monotonic() + DROP_WINDOW_S
            while not closing and len(pending) < DROP_BATCH:
                try:
                    item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if item is None:
                    closing = True
                else:
                    pending.append(item)
            batch, pending = pending[:DROP_BATCH], pending[DROP_BATCH:]
            try:
                asyncio.run(drop_databases(batch, concurrency=len(batch)))
            except Exception as exc:  # reported when the session closes
                self._errors.append(exc)


class Templates:
    """Template databases built on first use, once per run, never connected to afterwards."""

    def __init__(self) -> None:
        self._built: dict[str, str] = {}
        self._lock = threading.Lock()

    def get(self, key: str, fill: Callable[[asyncpg.Connection], Awaitable[Any]]) -> str:
        """The template's database name; `fill` loads it on first use."""
        with self._lock:
            if key not in self._built:
                self._built[key] = run_async(lambda: self._build(key, fill))
            return self._built[key]

    @staticmethod
    async def _build(key: str, fill: Callable[[asyncpg.Connection], Awaitable[Any]]) -> str:
        dsn = await create_database(f"t_tpl_{key}_")
        conn = await asyncpg.connect(dsn)
        try:
            await fill(conn)
        finally:
            await conn.close()
        return name_of(dsn)

    def names(self) -> list[str]:
        return list(self._built.values())
