"""The job store: one SQLite file (WAL), so jobs outlive the process that queued them.

A job moves queued -> in_progress -> completed | failed | canceled, and only forward. On start-up,
`recover` turns a job left in_progress by a dead server into failed with a reason: the generation may
well be what brought the server down, and running it again unasked could do so again. Queued jobs stay
queued and run; finished ones stay downloadable.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TERMINAL = ("completed", "failed", "canceled")
RESTARTED = "interrupted: the server stopped while this job was running; submit it again"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,   -- queue order
    id TEXT UNIQUE NOT NULL,
    status TEXT NOT NULL,
    progress INTEGER NOT NULL DEFAULT 0,
    request TEXT NOT NULL,                   -- JSON: the validated generation settings
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    error_code TEXT,
    error TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status, seq);
"""


class QueueFullError(Exception):
    """More jobs are queued than the server accepts."""


@dataclass(frozen=True)
class Job:
    seq: int
    id: str
    status: str
    progress: int
    request: dict[str, Any]
    created_at: float
    started_at: float | None
    finished_at: float | None
    error_code: str | None
    error: str | None
    cancel_requested: bool

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL


class JobStore:
    """Thread-safe access to the jobs table; every method is one short transaction."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.row_factory = sqlite3.Row
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across a process crash
            self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -------------------------------------------------------------- creation and reading

    def create(self, request: dict[str, Any], max_queue: int, job_id: str | None = None) -> Job:
        """Queue a job, or raise QueueFullError when `max_queue` jobs are already waiting."""
        job_id = job_id or f"video_{secrets.token_hex(16)}"
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                (queued,) = self._db.execute("SELECT COUNT(*) FROM jobs WHERE status = 'queued'").fetchone()
                if queued >= max_queue:
                    raise QueueFullError(f"{queued} jobs are queued (the limit is {max_queue})")
                self._db.execute(
                    "INSERT INTO jobs (id, status, request, created_at) VALUES (?, 'queued', ?, ?)",
                    (job_id, json.dumps(request), time.time()),
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        job = self.get(job_id)
        assert job is not None
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return None if row is None else _job(row)

    def list(self, limit: int = 20, after: str | None = None, order: str = "desc") -> tuple[list[Job], bool]:
        """Up to `limit` jobs after the job `after` in creation order, and whether more follow."""
        op, direction = ("<", "DESC") if order == "desc" else (">", "ASC")
        with self._lock:
            if after is None:
                rows = self._db.execute(
                    f"SELECT * FROM jobs ORDER BY seq {direction} LIMIT ?", (limit + 1,)
                ).fetchall()
            else:
                rows = self._db.execute(
                    f"SELECT * FROM jobs WHERE seq {op} (SELECT seq FROM jobs WHERE id = ?) "
                    f"ORDER BY seq {direction} LIMIT ?",
                    (after, limit + 1),
                ).fetchall()
        return [_job(r) for r in rows[:limit]], len(rows) > limit

    def recent_durations(self, n: int = 10) -> list[float]:
        """Run times, seconds, of the last `n` completed jobs (for Retry-After)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT finished_at - started_at FROM jobs WHERE status = 'completed' "
                "ORDER BY finished_at DESC LIMIT ?",
                (n,),
            ).fetchall()
        return [r[0] for r in rows if r[0] is not None]

    # -------------------------------------------------------------- transitions

    def claim_next(self) -> Job | None:
        """The oldest queued job, now in_progress; None when nothing is queued."""
        with self._lock:
            row = self._db.execute(
                "UPDATE jobs SET status = 'in_progress', started_at = ? WHERE seq = "
                "(SELECT seq FROM jobs WHERE status = 'queued' ORDER BY seq LIMIT 1) RETURNING *",
                (time.time(),),
            ).fetchone()
        return None if row is None else _job(row)

    def set_progress(self, job_id: str, progress: int) -> bool:
        """Record progress (kept below 100 until completed); True if a cancel has been requested."""
        with self._lock:
            row = self._db.execute(
                "UPDATE jobs SET progress = MAX(progress, ?) WHERE id = ? AND status = 'in_progress' "
                "RETURNING cancel_requested",
                (max(0, min(99, int(progress))), job_id),
            ).fetchone()
        return row is None or bool(row[0])  # gone or no longer in progress: stop as well

    def finish(
        self, job_id: str, status: str, error_code: str | None = None, error: str | None = None
    ) -> bool:
        """Move an in_progress job to a terminal status; False if it is no longer in progress."""
        if status not in TERMINAL:
            raise ValueError(f"status: must be one of {TERMINAL}, got {status!r}")
        with self._lock:
            cur = self._db.execute(
                "UPDATE jobs SET status = ?, "
                "progress = CASE WHEN ? = 'completed' THEN 100 ELSE progress END, "
                "finished_at = ?, error_code = ?, error = ? WHERE id = ? AND status = 'in_progress'",
                (status, status, time.time(), error_code, error, job_id),
            )
        return cur.rowcount == 1

    def request_cancel(self, job_id: str) -> Job | None:
        """Cancel a queued job now, or flag an in_progress one for the worker; None if there is no job."""
        with self._lock:
            self._db.execute(
                "UPDATE jobs SET status = 'canceled', finished_at = ? WHERE id = ? AND status = 'queued'",
                (time.time(), job_id),
            )
            self._db.execute(
                "UPDATE jobs SET cancel_requested = 1 WHERE id = ? AND status = 'in_progress'", (job_id,)
            )
        return self.get(job_id)

    def delete(self, job_id: str) -> bool:
        with self._lock:
            cur = self._db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
        return cur.rowcount == 1

    def recover(self) -> int:
        """After a restart: jobs a dead server left in_progress become failed. Returns how many."""
        with self._lock:
            cur = self._db.execute(
                "UPDATE jobs SET status = 'failed', error_code = 'server_restarted', error = ?, "
                "finished_at = ? WHERE status = 'in_progress'",
                (RESTARTED, time.time()),
            )
        return cur.rowcount


def _job(row: sqlite3.Row) -> Job:
    data = dict(row)
    data["request"] = json.loads(data["request"])
    data["cancel_requested"] = bool(data["cancel_requested"])
    return Job(**data)
