"""SqlCounts: node, job and retry counts from a hub's own SQLite, read-only, cached 1 s."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from otel._sql_counts import SqlCounts, SqlCountsError, load_sql_counts_config

NOW = 1_800_000_000.0


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "state" / "their.db"
    path.parent.mkdir()
    conn = sqlite3.connect(path)
    conn.executescript("""
        PRAGMA journal_mode=WAL;
        CREATE TABLE workers(id TEXT PRIMARY KEY, last_beat REAL);
        CREATE TABLE tasks(uuid TEXT PRIMARY KEY, status TEXT);
        CREATE TABLE retry_log(ts REAL, why TEXT);
        CREATE TABLE retry_counts(why TEXT PRIMARY KEY, total INTEGER);
    """)
    conn.executemany("INSERT INTO workers VALUES (?, ?)",
                     [("a", NOW - 1), ("b", NOW - 40), ("c", NOW - 500), ("d", NOW)])
    conn.executemany("INSERT INTO tasks VALUES (?, ?)",
                     [("1", "waiting"), ("2", "waiting"), ("3", "running"), ("4", "ok")])
    conn.executemany("INSERT INTO retry_log VALUES (?, ?)",
                     [(NOW - 10, "failed"), (NOW - 70, "failed"), (NOW - 5, "lease_expired")])
    conn.executemany("INSERT INTO retry_counts VALUES (?, ?)", [("failed", 7)])
    conn.commit()
    conn.close()
    return path


CONFIG = {
    "database": "state/their.db",
    "params": {"stale_s": 30, "dead_s": 120},
    "nodes": "SELECT CASE WHEN :now - last_beat <= :stale_s THEN 'online' "
             "WHEN :now - last_beat <= :dead_s THEN 'stale' ELSE 'dead' END, count(*) "
             "FROM workers GROUP BY 1",
    "jobs": "SELECT CASE status WHEN 'waiting' THEN 'queued' ELSE 'inflight' END, count(*) "
            "FROM tasks WHERE status IN ('waiting', 'running') GROUP BY 1",
    "retries_total": "SELECT why, total FROM retry_counts",
    "retries_window": "SELECT why, count(*) FROM retry_log WHERE ts > :now - :window_s "
                      "GROUP BY why",
}


def write_config(tmp_path: Path, doc: object) -> Path:
    path = tmp_path / "counts.json"
    path.write_text(json.dumps(doc))
    return path


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_queries_answer_in_contract_terms(tmp_path: Path, db: Path) -> None:
    counts = SqlCounts(load_sql_counts_config(write_config(tmp_path, CONFIG)),
                       wall_clock=lambda: NOW)
    assert counts.nodes() == {"online": 2, "stale": 1, "dead": 1}
    assert counts.jobs() == {"queued": 2, "inflight": 1}
    assert counts.read("retries_total") == {"failed": 7}
    assert counts.read("retries_window") == {"failed": 1, "lease_expired": 1}
    counts.close()


def test_a_scrape_storm_reaches_the_database_once_a_second(tmp_path: Path, db: Path) -> None:
    clock = Clock()
    counts = SqlCounts(load_sql_counts_config(write_config(tmp_path, CONFIG)),
                       wall_clock=lambda: NOW, monotonic=clock)
    traced: list[str] = []
    counts.nodes()
    assert counts._conn is not None
    counts._conn.set_trace_callback(traced.append)
    for _ in range(1000):
        counts.nodes()
    assert traced == []
    clock.now += 1.0
    counts.nodes()
    assert len(traced) == 1


def test_the_database_is_never_written(tmp_path: Path, db: Path) -> None:
    doc = {**CONFIG, "nodes": "DELETE FROM workers RETURNING 'online', 1"}
    counts = SqlCounts(load_sql_counts_config(write_config(tmp_path, doc)))
    with pytest.raises(sqlite3.Error):
        counts.nodes()
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT count(*) FROM workers").fetchone() == (4,)
    conn.close()


def test_a_missing_database_and_a_bad_query_raise_for_the_gauge_to_skip(tmp_path: Path) -> None:
    counts = SqlCounts(load_sql_counts_config(write_config(tmp_path, CONFIG)))
    with pytest.raises(sqlite3.Error, match="no such database"):
        counts.nodes()
    assert counts.read("unconfigured") == {}


def test_rows_of_the_wrong_shape_are_refused(tmp_path: Path, db: Path) -> None:
    doc = {**CONFIG, "jobs": "SELECT status, uuid, 1 FROM tasks"}
    counts = SqlCounts(load_sql_counts_config(write_config(tmp_path, doc)))
    with pytest.raises(ValueError, match="key, integer count"):
        counts.jobs()


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ([], "(file)"),
        ({"database": "x.db"}, "(file)"),
        ({"nodes": "SELECT 1"}, "database"),
        ({"database": "x.db", "nodes": ""}, "nodes"),
        ({"database": "x.db", "nodes": "SELECT 'a"}, "nodes"),
        ({"database": "x.db", "jobs": "SELECT 1", "colour": 1}, "colour"),
        ({"database": "x.db", "jobs": "SELECT 1", "params": {"now": 1}}, "params.now"),
        ({"database": "x.db", "jobs": "SELECT 1", "params": {"x": [1]}}, "params.x"),
        ({"database": "x.db", "jobs": "SELECT 1", "params": []}, "params"),
    ],
)
def test_a_bad_counts_file_names_the_field(tmp_path: Path, doc: object, field: str) -> None:
    with pytest.raises(SqlCountsError) as info:
        load_sql_counts_config(write_config(tmp_path, doc))
    assert info.value.field == field


def test_an_unreadable_counts_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SqlCountsError, match="cannot read"):
        load_sql_counts_config(tmp_path / "absent.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(SqlCountsError, match="not valid JSON"):
        load_sql_counts_config(tmp_path / "bad.json")
