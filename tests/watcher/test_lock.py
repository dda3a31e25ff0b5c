"""One watcher per home (state/watcher.lock), and atomic writes that never share a temp file."""

from __future__ import annotations

import threading
from pathlib import Path

import orjson
import pytest

from sheratan_home.layout import WATCHER_LOCK_FILE
from tests.watcher.conftest import CliRunner, Home, burst, read_alerts, write_lines
from watcher import EXIT_LOCKED
from watcher._cli import build_parser
from watcher._lock import InstanceLock, WatcherLocked
from watcher._status import write_json_atomic

LOCK_NAME = WATCHER_LOCK_FILE.name


def test_once_refuses_a_home_another_watcher_holds(run_cli: CliRunner, home: Home) -> None:
    write_lines(home.log, burst(0, 11))
    with InstanceLock(home.state / LOCK_NAME):
        result = run_cli("--once")
        assert result.code == EXIT_LOCKED
        assert f"another watcher is already running on {home.root}" in result.err
        assert "Traceback" not in result.err
        assert read_alerts(home.alerts) == []
        assert not (home.state / "watcher_checkpoint.json").exists()
    result = run_cli("--once")  # the lock went with its holder
    assert result.code == 0, result.err
    assert len(read_alerts(home.alerts)) == 1


def test_replay_and_check_rules_need_no_lock(run_cli: CliRunner, home: Home,
                                             tmp_path: Path) -> None:
    write_lines(home.log, burst(0, 11))
    rules = tmp_path / "rules.json"
    rules.write_bytes(b'{"rules": []}')
    with InstanceLock(home.state / LOCK_NAME):
        assert run_cli("--replay", str(home.log), "--alerts", str(tmp_path / "o")).code == 0
        assert run_cli("--check-rules", str(rules)).code == 0


def test_a_second_lock_on_the_same_file_fails_until_released(tmp_path: Path) -> None:
    first = InstanceLock(tmp_path / "state" / LOCK_NAME)
    first.acquire()
    with pytest.raises(WatcherLocked):
        InstanceLock(tmp_path / "state" / LOCK_NAME).acquire()
    first.release()
    first.release()  # idempotent
    with InstanceLock(tmp_path / "state" / LOCK_NAME):
        pass


def test_help_documents_the_exit_codes() -> None:
    text = build_parser().format_help()
    assert f"{EXIT_LOCKED} another watcher is already running" in " ".join(text.split())


def test_concurrent_atomic_writers_never_collide(tmp_path: Path) -> None:
    # With one fixed temp name, one writer renamed the other's half-written file away and the
    # other's rename then failed.
    target = tmp_path / "watcher_checkpoint.json"
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            for i in range(150):
                write_json_atomic(target, {"writer": n, "i": i, "pad": "x" * 4096},
                                  durable=False)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert orjson.loads(target.read_bytes())["i"] == 149
    assert sorted(p.name for p in tmp_path.iterdir()) == ["watcher_checkpoint.json"]
