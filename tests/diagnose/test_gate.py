"""The final leak gate and --verify: secrets past the redactor, tampering, planted secrets."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import pytest

from otel import KnownSecrets
from sheratan_ops.diag import (
    EXIT_LEAK,
    EXIT_NO_TOKEN,
    EXIT_OK,
    EXIT_TAMPERED,
    EXIT_USAGE,
    LayeredRedactor,
    LeakGate,
    main,
)

from .conftest import DOWN_URLS, Run, clean_env, make_home, read_members, run_cli

TOKEN = "Zx9-odd|shape~token^value"  # no pattern knows this shape


def test_gate_finds_a_known_value_in_any_shape_and_reports_only_its_kind() -> None:
    gate = LeakGate(KnownSecrets((TOKEN,)).redactor())
    leaks = gate.scan([("logs/a.log", f"prefix{TOKEN}suffix".encode()),
                       ("clean.txt", b"nothing here"),
                       ("escaped.json", json.dumps({"v": f"<{TOKEN}>"}).encode())])
    assert [(leak.member, leak.kinds) for leak in leaks] == [
        ("logs/a.log", ("known_secret",)), ("escaped.json", ("known_secret",))]
    assert all(TOKEN not in leak.describe() for leak in leaks)


def test_gate_finds_token_patterns_without_known_values() -> None:
    gate = LeakGate(KnownSecrets(()).redactor())
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlLXZhbHVl"
    leaks = gate.scan([("a", b"Authorization: Bearer abcdef123456"), ("b", jwt.encode()),
                       ("c", b"GET /x?token=abcdef0123456789"), ("d", b"token=[REDACTED]")])
    assert {leak.member: leak.kinds for leak in leaks} == {
        "a": ("bearer",), "b": ("jwt",), "c": ("secret_field",)}


def test_a_secret_that_slips_past_the_redactor_deletes_the_bundle(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Simulate a redactor gap (layers 2-4 do nothing): the gate alone must stop the bundle."""
    home = make_home(tmp_path / "home", token=TOKEN,
                     logs={"hub_data.log": f"a line with {TOKEN} in it\n"})
    monkeypatch.setattr(LayeredRedactor, "text", lambda self, text: text)
    monkeypatch.setattr(LayeredRedactor, "structure", lambda self, value: value)
    out = tmp_path / "out"
    code = main(["--out", str(out), *DOWN_URLS], env=clean_env(SHERATAN_HOME=str(home)))
    captured = capsys.readouterr()
    assert code == EXIT_LEAK
    assert "logs/hub_data.log: known_secret" in captured.err
    assert TOKEN not in captured.out + captured.err
    assert list(out.iterdir()) == []  # neither the bundle nor its temp file is left


def _bundle(tmp_path: Path, token: str | None = None) -> Path:
    home = make_home(tmp_path / "home", token=token, logs={"hub_control.log": "hello\n"})
    run = run_cli(["--out", str(tmp_path / "out"), *DOWN_URLS],
                  clean_env(SHERATAN_HOME=str(home)), cwd=tmp_path)
    return run.bundle


def _verify(bundle: Path, tmp_path: Path) -> Run:
    """``--verify`` as a user runs it, from a shell without HUB_TOKEN, with the home."""
    return run_cli(["--verify", str(bundle), "--home", str(tmp_path / "home")], clean_env(),
                   cwd=tmp_path)


def _rewrite(path: Path, changes: dict[str, bytes], *, fix_manifest: bool) -> None:
    members = read_members(path)
    members.update(changes)
    if fix_manifest:
        manifest = json.loads(members["manifest.json"])
        manifest["members"] = [{"name": n, "sha256": hashlib.sha256(d).hexdigest(),
                                "size": len(d)}
                               for n, d in sorted(members.items()) if n != "manifest.json"]
        members["manifest.json"] = json.dumps(manifest).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def test_verify_passes_an_untouched_bundle(tmp_path: Path) -> None:
    bundle = _bundle(tmp_path)
    run = _verify(bundle, tmp_path)
    assert run.returncode == EXIT_OK, run.stdout + run.stderr
    assert run.stdout.startswith("OK ")


def test_verify_flags_a_tampered_member(tmp_path: Path) -> None:
    bundle = _bundle(tmp_path)
    _rewrite(bundle, {"logs/hub_control.log": b"hello, edited\n"}, fix_manifest=False)
    run = _verify(bundle, tmp_path)
    assert run.returncode == EXIT_TAMPERED
    assert "TAMPERED logs/hub_control.log: content does not match the manifest" in run.stdout


def test_verify_flags_added_and_removed_members(tmp_path: Path) -> None:
    bundle = _bundle(tmp_path)
    members = read_members(bundle)
    del members["registry.json"]
    members["extra.txt"] = b"x"
    with zipfile.ZipFile(bundle, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    run = _verify(bundle, tmp_path)
    assert run.returncode == EXIT_TAMPERED
    assert "extra.txt: not listed" in run.stdout and "registry.json: listed" in run.stdout


def test_verify_flags_a_planted_secret_even_with_a_consistent_manifest(tmp_path: Path) -> None:
    bundle = _bundle(tmp_path, token=TOKEN)
    _rewrite(bundle, {"logs/hub_control.log": f"hello {TOKEN}\n".encode()}, fix_manifest=True)
    run = _verify(bundle, tmp_path)
    assert run.returncode == EXIT_LEAK
    assert "LEAK logs/hub_control.log: known_secret" in run.stdout
    assert TOKEN not in run.stdout + run.stderr


def test_verify_flags_a_planted_token_pattern_without_known_values(tmp_path: Path) -> None:
    bundle = _bundle(tmp_path)
    _rewrite(bundle, {"logs/hub_data.log": b"Authorization: Bearer abcdef0123456789\n"},
             fix_manifest=True)
    run = _verify(bundle, tmp_path)
    assert run.returncode == EXIT_LEAK
    assert "LEAK logs/hub_data.log: bearer" in run.stdout


def test_verify_of_a_file_that_is_not_a_zip_is_a_bad_argument(tmp_path: Path) -> None:
    fake = tmp_path / "notes.txt"
    fake.write_bytes(b"not a zip at all")
    run = run_cli(["--verify", str(fake)], clean_env(), cwd=tmp_path)
    assert run.returncode == EXIT_USAGE and run.stdout == ""  # nothing was tampered with
    assert f"error: --verify: {fake} is not a zip file" in run.stderr
    assert "TAMPERED" not in run.stderr and "Traceback" not in run.stderr


def test_verify_from_another_folder_names_the_home_and_says_to_point_at_it(
        tmp_path: Path) -> None:
    bundle = _bundle(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    run = run_cli(["--verify", str(bundle)], clean_env(), cwd=elsewhere)
    assert run.returncode == EXIT_NO_TOKEN
    assert run.stderr.startswith(
        f"home: {elsewhere / '.sheratan'} (SHERATAN_HOME is unset: the default ./.sheratan "
        "of this folder)\n")
    advice = run.stderr.split("Give it the token in one of these ways:\n", 1)[1]
    assert advice.startswith(f"  - if {elsewhere / '.sheratan'} is not the hub's home")
    assert "--home PATH or set SHERATAN_HOME" in advice.splitlines()[0]
    assert "start the v1.5 hub once" in advice.splitlines()[-1]
