"""Red team: secrets planted everywhere a client or an operator can put them never come out.

One hub runs with the hub token and a set of secret environment variables. A hostile client
(one that has the token, as a misconfigured worker does) plants every secret, and the token
in every encoding, in node names and ``meta``, job payloads, request paths, forwarded
headers, audit ``client`` values and log lines. Then every tool runs, the way an operator
would run it from their own shell, which has the secret variables of the deployment but not
the hub token: the watcher beside the hub and on its own, ``hub_top --once`` and diagnose
(hub up and down; token known, found by fingerprint, or neither). Every output is searched
for every secret in every form: none may be there, or diagnose must have refused with no zip.

What counts as an output: whatever the layer writes or prints (``alerts.jsonl``, consoles,
OTLP records, ``/metrics``, the bundle). The hub's own logs are the hub's (frozen) business,
but even there the raw token must never appear (CONTRACT section 2, the leak guard).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from otel import FINGERPRINT_FILE
from tests.conftest import REPO, HubProcess, start_hub
from tests.otlp_receiver import Receiver, wait_for
from tests.scripts.conftest import checkout_env

pytestmark = pytest.mark.e2e

# A token as HUB_TOKEN allows it: with the characters that percent-encoding changes.
TOKEN = "Rt7~Kq2+Xz9/Lm4.Wp8_Vb3-Nd6Hs1Fj5Gc0Ya2Ue7Io4"
HALF = len(TOKEN) // 2
_PEM = ("-----BEGIN OPENSSH PRIVATE KEY-----\n"
        "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
        "QyNTUxOQAAACBd9Qm7Tz3Yk5Rw8Lx2Vc4Bn6Mj1Hg0Fs9Da7Sp3Eq5Wr8AAAAJj1Tz3Yk5Rw\n"
        "-----END OPENSSH PRIVATE KEY-----\n")
_AZURE_KEY = "Zm9vYmFyYmF6cXV4" * 5 + "dGVzdGtleQ=="  # 88 characters of base64
#: The deployment's secret variables: the hub has them, and so has the operator's shell.
ENV_SECRETS = {
    "SSH_KEY": _PEM,
    "DEPLOY_KEY": "dk_live_9f8e7d6c5b4a3210ffee",
    "MASTER_KEY": "mk-7Yp3Qs9Lw2Ez8Rt5Ux1Ab",
    "FERNET_KEY": "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=",
    "SENTRY_DSN": "https://9a8b7c6d5e4f3a2b1c0d@o123.ingest.sentry.io/456",
    "AZURE_STORAGE_CONNECTION_STRING": (
        f"DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={_AZURE_KEY};"
        "EndpointSuffix=core.windows.net"),
    "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T0ABCDEFG/B0ABCDEFG/abcdefghij0123456789wxyz",
    "DB_PASSWORD": "pässwörd-€-geheim-42",
}
#: Credentials nobody told the tools about: only their shape gives them away.
UNTOLD = {
    "github": "ghp_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8",
    "aws": "AKIAQ3EGRT7WXZ5LMN2P",
    "redis": "redis://:hunter2-cache-pass@cache:6379/0",
    "args": "worker --password hunter2-arg-pass --token=tok-arg-value-123",
    "email": "jane.doe@example.com",
}
#: What must not be found, per secret, in any output.
_UNTOLD_NEEDLES = {
    "github": UNTOLD["github"], "aws": UNTOLD["aws"], "redis": "hunter2-cache-pass",
    "args-password": "hunter2-arg-pass", "args-token": "tok-arg-value-123",
    "email": UNTOLD["email"],
}
#: Terminal escapes a client plants: none may reach a console raw.
ESCAPES = "\x1b[2J\x1b]0;pwned\x07\x9b31m\r\nFORGED LINE\u202eevil"
_RAW_CONTROLS = ("\x1b", "\x07", "\r", "\x9b")


def token_forms(token: str) -> dict[str, str]:
    raw = token.encode()
    return {
        "raw": token,
        "base64": base64.b64encode(raw).decode(),
        "base64url": base64.urlsafe_b64encode(raw).decode().rstrip("="),
        "basic": base64.b64encode(b"worker:" + raw).decode(),
        "hex": raw.hex(),
        "HEX": raw.hex().upper(),
        "percent": quote(token, safe=""),
        "json_u": "".join(f"\\u{ord(c):04x}" for c in token),
    }


def needles() -> dict[str, str]:
    """Every string whose presence in an output is a leak."""
    found = {f"token:{name}": form for name, form in token_forms(TOKEN).items()}
    found["token:first-half"], found["token:second-half"] = TOKEN[:HALF], TOKEN[HALF:]
    found["token:basic-core"] = base64.b64encode(TOKEN.encode()).decode()[:40]
    # The \u form inside a JSON line (the audit log's path): escaped twice.
    found["token:json_u-in-json"] = json.dumps(token_forms(TOKEN)["json_u"])[1:-1]
    for name, value in ENV_SECRETS.items():
        found[f"env:{name}"] = value.strip()
    found["env:SSH_KEY:body"] = _PEM.splitlines()[1]
    found["env:AZURE_KEY"] = _AZURE_KEY
    found["env:DB_PASSWORD:escaped"] = ENV_SECRETS["DB_PASSWORD"].encode(
        "unicode_escape").decode()
    found["env:DB_PASSWORD:percent"] = quote(ENV_SECRETS["DB_PASSWORD"], safe="")
    found.update({f"untold:{name}": value for name, value in _UNTOLD_NEEDLES.items()})
    return found


def leaks_in(outputs: Mapping[str, str]) -> list[str]:
    """``output: secret`` for every secret found in any output."""
    return [f"{where}: {name}" for where, text in outputs.items()
            for name, needle in needles().items() if needle in text]


def raw_controls_in(outputs: Mapping[str, str]) -> list[str]:
    return [f"{where}: {char!r}" for where, text in outputs.items()
            for char in _RAW_CONTROLS if char in text]


def operator_env(home: Path, **extra: str) -> dict[str, str]:
    """The operator's shell: the deployment's secret variables, not the hub token."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("HUB_", "OTEL_")) and k != "SOURCE_DATE_EPOCH"}
    env.update(ENV_SECRETS, SHERATAN_HOME=str(home), PYTHONUNBUFFERED="1")
    env.update(extra)
    return checkout_env(env)  # scripts/*.py then import this checkout's sheratan_ops


# -- planting ------------------------------------------------------------------------------

_RULES = {
    "ignore_clients": [],
    "rules": [
        {"name": "by_client", "event": "AUTH_FAILURE", "threshold": 0, "window_s": 600,
         "severity": "warning", "group_by": ["client"]},
        {"name": "by_path", "event": "AUTH_FAILURE", "threshold": 0, "window_s": 600,
         "severity": "warning", "group_by": ["path"]},
    ],
}


def _planted_values() -> list[str]:
    return [*token_forms(TOKEN).values(), *ENV_SECRETS.values(), *UNTOLD.values(), ESCAPES]


def _meta() -> dict[str, object]:
    return {
        "forms": token_forms(TOKEN), "env": dict(ENV_SECRETS), "untold": dict(UNTOLD),
        "owner": UNTOLD["email"], "console": ESCAPES,
        "split": {"a": TOKEN[:HALF], "b": TOKEN[HALF:]},
        "auth": f"Bearer {TOKEN}", "cmdline": UNTOLD["args"],
    }


def plant_through_the_api(hub: HubProcess) -> None:
    with httpx.Client(timeout=10, headers=hub.auth) as client:
        for i, name in enumerate([*token_forms(TOKEN).values(), ENV_SECRETS["DEPLOY_KEY"],
                                  UNTOLD["github"], UNTOLD["email"], ESCAPES, TOKEN[:HALF]]):
            client.post(f"{hub.control_url}/nodes/register",
                        json={"node_id": f"node-{i}", "name": name, "meta": _meta()})
        client.post(f"{hub.control_url}/nodes/register",
                    json={"node_id": f"w-{TOKEN[:HALF]}", "name": TOKEN[HALF:], "meta": {}})
        client.post(f"{hub.data_url}/jobs", json={"kind": "deploy", "payload": _meta()})
        for value in _planted_values():
            path = quote(value, safe="")
            client.get(f"{hub.control_url}/zz/{path}")  # 404: the access log
    with httpx.Client(timeout=10) as anonymous:
        for value in _planted_values():
            # The value lands in the audit path; the forwarded header is not trusted.
            # (A value with "/" in it spans path segments and finds no route: a 404.)
            header = "".join(c for c in value if " " <= c <= "~").strip()
            path = quote(value, safe="")
            anonymous.delete(f"{hub.control_url}/nodes/{path}",  # 401
                             headers={"X-Forwarded-For": header})
            anonymous.get(f"{hub.control_url}/jobs/{path}")  # 421 PORT_MISMATCH


def plant_in_the_files(home: Path) -> None:
    """What a hub nobody wrote for this layer might write: any string as the client."""
    audit = home / "logs" / "hub_security_audit.jsonl"
    now = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
    lines = [json.dumps({"ts": now, "event": "AUTH_FAILURE", "plane": "control", "port": 8787,
                         "client": value, "method": "GET", "path": "/nodes",
                         "reason": "invalid_token"}) + "\n" for value in _planted_values()]
    with audit.open("a", encoding="utf-8") as handle:
        handle.writelines(lines)
    with (home / "logs" / "hub_control.log").open("a", encoding="utf-8") as handle:
        for value in _planted_values():
            handle.write(f"2026-12-05T10:00:00.000Z INFO control note {value}\n")
        handle.write(f"2026-12-05T10:00:00.000Z INFO control cmd {UNTOLD['args']}\n")


# -- running the tools ---------------------------------------------------------------------


@dataclass
class Outputs:
    """Every output collected, by where it came from."""

    texts: dict[str, str] = field(default_factory=dict)
    consoles: dict[str, str] = field(default_factory=dict)

    def add(self, where: str, text: str, *, console: bool = False) -> None:
        self.texts[where] = text
        if console:
            self.consoles[where] = text


def run_tool(args: list[str], env: dict[str, str],
             timeout_s: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=REPO, env=env, capture_output=True,
                          text=True, encoding="utf-8", errors="replace", timeout=timeout_s)


def bundle_texts(path: Path) -> Iterator[tuple[str, str]]:
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            yield info.filename, archive.read(info).decode("utf-8", "replace")


def diagnose(home: Path, out: Path, hub: HubProcess | None, outputs: Outputs, label: str,
             env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    control, data = ((hub.control_url, hub.data_url) if hub is not None
                     else ("http://127.0.0.1:9", "http://127.0.0.1:9"))  # 9: nobody listens
    urls = ["--control-url", control, "--data-url", data]
    out.mkdir(exist_ok=True)
    run = run_tool(["scripts/diagnose.py", "--home", str(home), "--out", str(out), *urls], env)
    outputs.add(f"{label}:console", run.stdout + run.stderr, console=True)
    if run.returncode == 0:
        for member, text in bundle_texts(Path(run.stdout.strip().splitlines()[-1])):
            outputs.add(f"{label}:{member}", text)
    return run


def otlp_texts(receiver: Receiver) -> str:
    with receiver.lock:
        return "\n".join(str(request) for request in (*receiver.logs, *receiver.metrics))


def _alert_lines(path: Path) -> list[dict[str, object]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _alerts_for_every_client(path: Path) -> bool:
    """The last planted client (the escapes) has its alert: every line before it was read."""
    return any("FORGED LINE" in str(a["group"]) for a in _alert_lines(path)
               if a["rule"] == "by_client")


# -- the run -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def red_team(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Outputs, Path]]:
    home = tmp_path_factory.mktemp("redteam") / "home"
    (home / "configs").mkdir(parents=True)
    (home / "configs" / "alert_rules.json").write_text(json.dumps(_RULES))
    out = home.parent / "bundles"
    outputs = Outputs()
    receiver = Receiver()
    receiver.thread.start()
    hub = start_hub(home, token=TOKEN, args=("--watcher",), env={
        **ENV_SECRETS, "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
        "OTEL_BLRP_SCHEDULE_DELAY": "100", "OTEL_METRIC_EXPORT_INTERVAL": "500"})
    try:
        plant_through_the_api(hub)
        plant_in_the_files(home)
        alerts = home / "logs" / "alerts.jsonl"
        assert wait_for(lambda: _alerts_for_every_client(alerts), 30), _alert_lines(alerts)
        for plane, url in (("control", hub.control_url), ("data", hub.data_url)):
            for fmt in ("json", "prometheus", "openmetrics"):
                outputs.add(f"metrics:{plane}:{fmt}",
                            httpx.get(f"{url}/metrics?format={fmt}", timeout=10).text)
        operator = operator_env(home)
        top = run_tool(["scripts/hub_top.py", "--once", "--home", str(home), "--control-url",
                        hub.control_url, "--data-url", hub.data_url], operator)
        assert top.returncode == 0, top.stderr
        outputs.add("hub_top", top.stdout + top.stderr, console=True)
        run = diagnose(home, out, hub, outputs, "diagnose(up, fingerprint)", operator)
        assert run.returncode == 0, run.stderr
        run = diagnose(home, out, hub, outputs, "diagnose(up, HUB_TOKEN)",
                       operator_env(home, HUB_TOKEN=TOKEN))
        assert run.returncode == 0, run.stderr
        assert wait_for(lambda: bool(receiver.logs) and bool(receiver.metrics), 15)
    finally:
        assert hub.stop() == 0
        receiver.server.shutdown()
        receiver.server.server_close()
    outputs.add("watcher(--watcher):console", "".join(hub.output), console=True)
    outputs.add("watcher(--watcher):alerts.jsonl", alerts.read_text())
    outputs.add("watcher(--watcher):otlp", otlp_texts(receiver))
    _standalone_watcher(home, outputs)
    operator = operator_env(home)
    run = diagnose(home, out, None, outputs, "diagnose(down, fingerprint)", operator)
    assert run.returncode == 0, run.stderr
    run = diagnose(home, out, None, outputs, "diagnose(down, HUB_TOKEN)",
                   operator_env(home, HUB_TOKEN=TOKEN))
    assert run.returncode == 0, run.stderr
    yield outputs, home


def _standalone_watcher(home: Path, outputs: Outputs) -> None:
    """The watcher run by the operator on a copy of the home, in follow mode, then --replay."""
    copy = home.parent / "standalone"
    shutil.copytree(home / "logs", copy / "logs")
    shutil.copytree(home / "configs", copy / "configs")
    (copy / FINGERPRINT_FILE).parent.mkdir(parents=True)
    shutil.copy(home / FINGERPRINT_FILE, copy / FINGERPRINT_FILE)
    (copy / "logs" / "alerts.jsonl").unlink()
    env = operator_env(copy)
    proc = subprocess.Popen([sys.executable, "-m", "watcher", "--home", str(copy)], cwd=REPO,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        assert wait_for(lambda: _alerts_for_every_client(copy / "logs" / "alerts.jsonl"), 30)
    finally:
        proc.send_signal(signal.SIGTERM)
        console, _ = proc.communicate(timeout=10)
    outputs.add("watcher(standalone):console", console.decode("utf-8", "replace"), console=True)
    outputs.add("watcher(standalone):alerts.jsonl", (copy / "logs" / "alerts.jsonl").read_text())
    replayed = copy / "replayed.jsonl"
    run = run_tool(["-m", "watcher", "--replay", str(copy / "logs" / "hub_security_audit.jsonl"),
                    "--alerts", str(replayed), "--home", str(copy)], env)
    assert run.returncode == 0, run.stderr
    outputs.add("watcher(--replay):console", run.stdout + run.stderr, console=True)
    outputs.add("watcher(--replay):alerts.jsonl", replayed.read_text())


# -- the verdicts --------------------------------------------------------------------------


def test_the_secrets_were_really_planted(red_team: tuple[Outputs, Path]) -> None:
    """Guards the other tests against passing vacuously: the hub's own files hold the
    planted forms, so every tool had them to leak."""
    _, home = red_team
    planted = "\n".join(path.read_text("utf-8", "replace")
                        for path in (home / "logs").glob("hub_*"))
    for name in ("token:base64", "token:hex", "env:DEPLOY_KEY", "untold:github"):
        assert needles()[name] in planted, name
    hub_audit = [json.loads(line) for line in
                 (home / "logs" / "hub_security_audit.jsonl").read_text().splitlines()]
    hub_paths = " ".join(str(line["path"]) for line in hub_audit
                         if line["client"] == "127.0.0.1")
    for name in ("token:hex", "token:base64url", "env:DEPLOY_KEY", "untold:github"):
        assert needles()[name] in hub_paths, name
    assert {"AUTH_FAILURE", "PORT_MISMATCH"} <= {line["event"] for line in hub_audit}
    with zipfile.ZipFile(next((home.parent / "bundles").glob("*.zip"))) as archive:
        assert len(archive.infolist()) >= 11


def test_no_output_holds_any_secret_in_any_form(red_team: tuple[Outputs, Path]) -> None:
    outputs, _ = red_team
    assert len(outputs.texts) > 40  # every tool, every bundle member
    leaks = leaks_in(outputs.texts)
    assert not leaks, "\n".join(leaks)


def test_no_console_gets_a_raw_control_character(red_team: tuple[Outputs, Path]) -> None:
    outputs, _ = red_team
    assert "FORGED LINE" in "".join(outputs.consoles.values())  # it was shown, escaped
    raw = raw_controls_in(outputs.consoles)
    assert not raw, "\n".join(raw)


def test_the_hub_itself_never_writes_the_raw_token(red_team: tuple[Outputs, Path]) -> None:
    """Its logs, audit lines and state files; the store keeps what clients sent, and the
    lines this test planted in the files as a foreign hub would are left out."""
    _, home = red_team
    for path in home.rglob("*"):
        if not path.is_file() or path.name.startswith("hub.db"):
            continue
        lines = path.read_text("utf-8", "replace").splitlines()
        if path.name == "hub_control.log":
            lines = [line for line in lines if " control note " not in line]
        elif path.name == "hub_security_audit.jsonl":
            lines = [line for line in lines if json.loads(line)["client"] == "127.0.0.1"]
        assert not [line for line in lines if TOKEN in line], path


def test_diagnose_refuses_when_it_can_neither_know_nor_find_the_token(
    red_team: tuple[Outputs, Path],
) -> None:
    _, home = red_team
    (home / FINGERPRINT_FILE).rename(home / "fingerprint.moved")
    out = home.parent / "refused"
    out.mkdir()
    try:
        run = diagnose(home, out, None, Outputs(), "refused", operator_env(home))
    finally:
        (home / "fingerprint.moved").rename(home / FINGERPRINT_FILE)
    assert run.returncode == 5, run.stderr
    assert list(out.iterdir()) == []
    assert "--token-file" in run.stderr and "HUB_TOKEN" in run.stderr
    assert leaks_in({"stderr": run.stderr}) == []
