"""``kiosk-fleet``: users, the same views as the dashboard in JSON, one-line errors; and
``kiosk-fleet demo`` starts a broker, the fleet server and kiosks, and stops them all."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import requests

from fleet.cli import main
from fleet.store import Store
from protocol import telemetry as tm
from tests.fleet.messages import birth, event, health, reading
from tests.harness.waiting import wait_for

PASSWORD = "a long enough password"


def run(capsys, monkeypatch, *argv: str, stdin: str = "") -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_users_and_the_views_in_json(tmp_path, capsys, monkeypatch):
    db = ["--state-dir", str(tmp_path / "state")]
    code, out, _ = run(
        capsys,
        monkeypatch,
        "user",
        "add",
        "anna.it",
        "--role",
        "operator",
        *db,
        stdin=PASSWORD + "\n",
    )
    assert code == 0 and "added anna.it" in out
    code, out, _ = run(capsys, monkeypatch, "user", "list", "--json", *db)
    assert json.loads(out) == [{"name": "anna.it", "role": "operator"}]
    assert (tmp_path / "state" / "fleet.sqlite3").stat().st_mode & 0o077 == 0
    store = Store(tmp_path / "state" / "fleet.sqlite3")
    card = tm.card_hash(b"k" * 32, "9752269990000001")
    store.ingest(
        [
            reading(birth()),
            reading(health(seq=1)),
            reading(health(seq=2, seconds=1)),
            reading(event("card-read", seq=3, card=card)),
            reading(event("session-started", seq=4)),
        ]
    )
    store.close()
    code, out, _ = run(capsys, monkeypatch, "status", "--json", *db)
    status = json.loads(out)
    assert [k["kiosk"] for k in status["kiosks"]] == ["kiosk-1"] and status["counts"]["online"] == 1
    (tmp_path / "key").write_bytes(b"k" * 32)
    code, out, _ = run(
        capsys,
        monkeypatch,
        "events",
        "--json",
        "--card-number",
        "9752269990000001",
        "--card-hash-key-file",
        str(tmp_path / "key"),
        *db,
    )
    assert [e["kind"] for e in json.loads(out)] == ["card-read"]
    code, out, _ = run(capsys, monkeypatch, "alerts", "--json", "--open", *db)
    assert code == 0 and json.loads(out) == []


def test_mistakes_get_one_line(tmp_path, capsys, monkeypatch):
    db = ["--state-dir", str(tmp_path / "state")]
    code, _, err = run(
        capsys, monkeypatch, "user", "add", "bo", "--role", "viewer", *db, stdin="short\n"
    )
    assert code == 1 and err.strip() == "kiosk-fleet user: a password needs at least 12 characters"
    code, _, err = run(capsys, monkeypatch, "user", "remove", "ghost", *db)
    assert code == 1 and "no user 'ghost'" in err
    code, _, err = run(
        capsys, monkeypatch, "status", "--database", "postgresql+psycopg://nobody@127.0.0.1:1/x"
    )
    assert (
        code == 1
        and err.startswith("kiosk-fleet status: the database cannot be used")
        and err.count("\n") == 1
    )
    code, _, err = run(
        capsys,
        monkeypatch,
        "serve",
        *db,
        "--broker",
        "mqtts://127.0.0.1:1",
        "--broker-ca",
        str(tmp_path / "missing.pem"),
        "--cert",
        "x",
        "--key",
        "y",
    )
    assert code == 1 and "cannot read" in err


def demo_processes() -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                command = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if b"kiosk-fleet-demo-" in command:
                found.append(int(entry.name))
    return found


def test_the_demo_starts_a_fleet_and_stops_everything_it_started():
    demo = subprocess.Popen(
        [sys.executable, "-m", "fleet.cli", "demo", "--kiosks", "2", "--port", "0"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(demo.stdout), daemon=True).start()
    try:
        wait_for(
            lambda: any("Sign in as" in line for line in lines), timeout=60, what="the sign-in"
        )
        url = next(line.split()[-1] for line in lines if line.startswith("Fleet dashboard:"))
        password = next(line for line in lines if "Sign in as" in line).split("'")[3]
        session = requests.Session()
        assert session.post(url + "/login", data={"name": "demo", "password": password}).ok
        wait_for(
            lambda: session.get(url + "/api/fleet").json()["counts"]["online"] == 2,
            timeout=60,
            what="the demo's kiosks online",
        )
        assert len(demo_processes()) >= 2  # the kiosks (and the broker) run from its folder
        demo.send_signal(signal.SIGINT)
        assert demo.wait(60) == 0
        wait_for(lambda: not demo_processes(), timeout=10, what="every child to end")
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait(10)
        print("".join(lines))
