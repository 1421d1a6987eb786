"""The Spanner emulator keeps nothing on disk: `stack down` writes the sink's tables to the state
dir and the next `stack up` loads them into the new, empty database, so "the stack keeps its data"
holds across a restart (rows already done stay done, as the row cache beside them says)."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from pathlib import Path

from local_stack.spanner import spanner_client

EXPORT_DIR = "spanner-export"
ROWS_PER_COMMIT = 2_000  # well inside the emulator's (and Spanner's) mutations per commit at 7 columns


def _json(value: object) -> object:
    if isinstance(value, datetime):
        return {"ts": value.isoformat()}
    if isinstance(value, bytes):
        return {"b64": base64.b64encode(value).decode()}
    return value


def _value(value: object) -> object:
    if isinstance(value, dict) and "ts" in value:
        return datetime.fromisoformat(value["ts"])
    if isinstance(value, dict) and "b64" in value:
        return base64.b64decode(value["b64"])
    return value


def export_tables(project: str, instance: str, database: str, tables: list[str], host: str, state_dir: Path) -> int:
    """Every row of `tables` as JSON lines under the state dir (replacing an earlier export); rows written."""
    target = Path(state_dir) / EXPORT_DIR
    target.mkdir(parents=True, exist_ok=True)
    db, written = spanner_client(project, host).instance(instance).database(database), 0
    for table in tables:
        with db.snapshot() as snapshot, (target / f"{table}.jsonl.tmp").open("w") as out:
            rows = snapshot.execute_sql(f"SELECT * FROM {table}")
            for row in rows:
                columns = [field.name for field in rows.fields]
                out.write(json.dumps({c: _json(v) for c, v in zip(columns, row, strict=True)}) + "\n")
                written += 1
        (target / f"{table}.jsonl.tmp").replace(target / f"{table}.jsonl")  # a crash leaves the last good one
    return written


def import_tables(project: str, instance: str, database: str, tables: list[str], host: str, state_dir: Path) -> int:
    """Load an export into the (new) database; rows loaded (0 when there is none)."""
    db, loaded = spanner_client(project, host).instance(instance).database(database), 0
    for table in tables:
        path = Path(state_dir) / EXPORT_DIR / f"{table}.jsonl"
        if not path.is_file():
            continue
        chunk: list[dict] = []
        with path.open() as lines:
            for line in lines:
                chunk.append(json.loads(line))
                if len(chunk) == ROWS_PER_COMMIT:
                    loaded += _insert(db, table, chunk)
                    chunk = []
        loaded += _insert(db, table, chunk)
    return loaded


def _insert(db, table: str, rows: list[dict]) -> int:
    if rows:
        columns = tuple(rows[0])
        with db.batch() as batch:
            batch.insert_or_update(table, columns, [tuple(_value(r[c]) for c in columns) for r in rows])
    return len(rows)


def forget_export(state_dir: Path) -> None:
    for path in (Path(state_dir) / EXPORT_DIR).glob("*.jsonl"):
        path.unlink()
