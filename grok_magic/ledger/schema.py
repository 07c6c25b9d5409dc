"""The ledger's schema: each migration step, applied in place (PRAGMA user_version counts them)."""

from __future__ import annotations

import json
from collections.abc import Callable


def rehash_responses_requests(conn) -> None:
    """Step 4: a Responses API request is matched by the chat form of its question (see
    canonical.request_hash), so its rows get the hash a chat request for the same question has."""
    from grok_magic.ledger.canonical import request_hash

    for table, key in (("exchanges", "id"), ("batch_rows", "rowid")):
        rows = conn.execute(f"SELECT {key}, request FROM {table} "  # noqa: S608 - our names
                            f"WHERE request LIKE '%\"input\"%'").fetchall()
        for row_id, request in rows:
            try:
                canonical = json.loads(request)
            except ValueError:
                continue
            if isinstance(canonical, dict):
                conn.execute(f"UPDATE {table} SET request_hash = ? WHERE {key} = ?",  # noqa: S608
                             (request_hash(canonical, request), row_id))


# Each step brings a ledger from version i to i + 1: SQL statements, or a function of the
# connection (run inside the migration's transaction).
MIGRATIONS: tuple[str | Callable, ...] = (
    """
    CREATE TABLE exchanges (
        id INTEGER PRIMARY KEY,
        time TEXT NOT NULL,              -- UTC, ISO 8601 with milliseconds and Z
        session TEXT NOT NULL,           -- one id per kernel (process)
        notebook TEXT,                   -- JPY_SESSION_NAME when known
        cell INTEGER,                    -- execution count
        source TEXT NOT NULL,            -- cell, panel, script, batch
        api TEXT NOT NULL,               -- chat, responses
        endpoint TEXT NOT NULL,
        model_asked TEXT,
        model_served TEXT,
        request_hash TEXT NOT NULL,      -- SHA-256 of the canonical request (see canonical.py)
        request TEXT NOT NULL,           -- canonical request JSON: images as SHA-256 + size
        question TEXT,                   -- the last user turn's text, for listings
        answer TEXT,
        reasoning TEXT,
        finish_reason TEXT,
        usage TEXT,                      -- every usage field, JSON
        prompt_tokens INTEGER NOT NULL DEFAULT 0,
        completion_tokens INTEGER NOT NULL DEFAULT 0,
        reasoning_tokens INTEGER NOT NULL DEFAULT 0,
        cached_tokens INTEGER NOT NULL DEFAULT 0,
        image_tokens INTEGER NOT NULL DEFAULT 0,
        total_tokens INTEGER NOT NULL DEFAULT 0,
        cost REAL,                       -- USD
        response_id TEXT,
        request_id TEXT,
        first_token_s REAL,
        total_s REAL,
        status TEXT NOT NULL,            -- ok, error, stopped, incomplete
        error TEXT,
        citations TEXT,                  -- JSON list
        tool_calls TEXT                  -- JSON list
    );
    CREATE INDEX exchanges_replay ON exchanges (request_hash, status);
    CREATE INDEX exchanges_time ON exchanges (time);
    CREATE INDEX exchanges_session ON exchanges (session);
    CREATE INDEX exchanges_notebook ON exchanges (notebook);
    """,
    # 2: Batch API jobs, so they outlive the kernel (see ledger.batches).
    """
    CREATE TABLE batches (
        id TEXT PRIMARY KEY,             -- xAI's batch id (one part of a job)
        job_id TEXT NOT NULL,            -- the job's id: its first part's batch id
        name TEXT,
        created TEXT NOT NULL,
        session TEXT,
        notebook TEXT,
        cell INTEGER,
        model TEXT,
        endpoint TEXT NOT NULL,
        count INTEGER NOT NULL,          -- items in the whole run (sent + replayed)
        job_key TEXT NOT NULL,           -- SHA-256 of every item's request hash, in order
        row_index TEXT NOT NULL,         -- the input's index, JSON
        structured INTEGER NOT NULL DEFAULT 0,
        out_name TEXT,
        status TEXT NOT NULL,            -- pending, done, cancelled, expired
        state TEXT,                      -- xAI's last word on it, JSON
        finished TEXT,
        input_file_id TEXT,
        upload_bytes INTEGER
    );
    CREATE INDEX batches_key ON batches (job_key);
    CREATE INDEX batches_job ON batches (job_id);
    CREATE TABLE batch_rows (
        batch_id TEXT NOT NULL,
        custom_id TEXT NOT NULL,
        position INTEGER NOT NULL,
        request_hash TEXT NOT NULL,
        request TEXT NOT NULL,           -- canonical request JSON (images as SHA-256 + size)
        question TEXT,
        recorded INTEGER NOT NULL DEFAULT 0,  -- its answer is in exchanges
        PRIMARY KEY (batch_id, custom_id)
    );
    """,
    # 3: exact spending. Every answer has a natural key, unique, so recording it again (a batch
    # job re-attached, a result read twice) adds nothing; a cost is exact or an estimate; and
    # the worst case of every request in flight is reserved here, where every kernel sees it.
    """
    ALTER TABLE exchanges ADD COLUMN answer_key TEXT;  -- batch:<batch id>:<custom_id>, live:<uuid>
    ALTER TABLE exchanges ADD COLUMN cost_exact INTEGER NOT NULL DEFAULT 1;  -- 0: an estimate
    CREATE UNIQUE INDEX exchanges_answer_key ON exchanges (answer_key)
        WHERE answer_key IS NOT NULL;
    CREATE TABLE reservations (
        id TEXT PRIMARY KEY,
        session TEXT NOT NULL,
        host TEXT NOT NULL,
        pid INTEGER NOT NULL,            -- a reservation of a process that is gone is dropped
        time TEXT NOT NULL,
        expires TEXT NOT NULL,           -- and one past its request's deadline
        amount REAL NOT NULL             -- USD: the request's worst case
    );
    """,
    # 4: one question, one hash, whichever API asked it.
    rehash_responses_requests,
    # 5: what Grok Imagine made: each image or video by SHA-256 (the bytes are in the media
    # folder beside the ledger, see ledger.media), with its revised prompt.
    """
    ALTER TABLE exchanges ADD COLUMN media TEXT;  -- JSON list: kind, sha256, media_type, ...
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)


class LedgerProblem(Exception):
    """The ledger file cannot be used (it is newer than this grok_magic, or not a ledger)."""


def migrate(conn, *, readonly: bool) -> None:
    """Bring the ledger on `conn` to SCHEMA_VERSION (a read-only one is only checked)."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise LedgerProblem(f"it was written by a newer grok_magic (schema {version}, this "
                            f"one knows {SCHEMA_VERSION}); upgrade grok_magic to use it")
    if version == SCHEMA_VERSION:
        return
    if readonly:
        if version >= 1:
            return  # read as it is: columns it lacks read as their defaults (see COLUMNS_SINCE)
        raise LedgerProblem("it is not a grok_magic ledger (no schema version)")
    conn.execute("BEGIN IMMEDIATE")
    try:
        # Another kernel may have migrated while this one waited for the lock.
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        for step in range(version, SCHEMA_VERSION):
            if callable(MIGRATIONS[step]):
                MIGRATIONS[step](conn)
                continue
            for statement in MIGRATIONS[step].split(";"):
                if statement.strip():
                    conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def version_of(conn) -> int:
    return conn.execute("PRAGMA user_version").fetchone()[0]
