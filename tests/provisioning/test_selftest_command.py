"""The self-test as a technician runs it: ``python -m provisioning.selftest`` in a process of
its own, against a pcscd of its own. libpcsclite finds pcscd once per process, so a
kiosk whose reader is unplugged (a pcscd with no reader) and then whose pcscd is stopped
(that same pcscd, stopped) are each a real process talking to a real (or absent) pcscd.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.harness.pcscd import PrivatePcscd

pytestmark = pytest.mark.pcsc


def self_test(config: Path, *options: str, env: dict[str, str] | None = None):
    return subprocess.run(
        [sys.executable, "-m", "provisioning.selftest", "--config", str(config), *options],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def checks(done: subprocess.CompletedProcess) -> dict[str, dict]:
    return {check["id"]: check for check in json.loads(done.stdout)["checks"]}


def test_a_healthy_kiosk_exits_0_with_a_report_for_the_ticket(kiosk_config, make_siths_slot):
    make_siths_slot()
    config = kiosk_config()
    done = self_test(config, "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    data = json.loads(done.stdout)
    assert data["passed"] is True and data["kiosk"] == "kiosk-entre-a"
    assert all(check["status"] in ("ok", "skipped") for check in data["checks"])
    report = self_test(config, "--report")
    assert report.returncode == 0
    assert report.stdout.startswith("SITHS kiosk self-test passed\n")
    plain = self_test(config)
    assert "READY: every check passed" in plain.stdout
    assert "To paste into a ticket:" in plain.stdout


def test_no_reader_then_pcscd_stopped_are_each_named(kiosk_config, tmp_path):
    config = kiosk_config()
    daemon = PrivatePcscd(tmp_path / "pcscd-without-reader", readers=False)
    daemon.start()
    try:
        done = self_test(config, "--json", env=daemon.environment())
        found = checks(done)
        assert done.returncode == 1
        assert found["pcscd"]["status"] == "ok"
        assert found["reader"]["status"] == "failed"
        assert found["reader"]["found"].startswith("no card reader is connected")
        assert "USB port" in found["reader"]["fix"]
        assert found["card"]["status"] == "skipped"
    finally:
        daemon.stop()
    done = self_test(config, "--json", env=daemon.environment())
    found = checks(done)
    assert done.returncode == 1
    assert found["pcscd"] == {
        "id": "pcscd",
        "title": "Smart-card service (pcscd)",
        "status": "failed",
        "found": "pcscd is not running",
        "fix": found["pcscd"]["fix"],
    }
    assert "systemctl restart pcscd" in found["pcscd"]["fix"]
    assert found["reader"]["status"] == found["card"]["status"] == "skipped"
    assert found["card-service"]["status"] == "ok"  # the rest still ran


def test_a_configuration_that_cannot_be_read_exits_2_naming_it(tmp_path):
    done = self_test(tmp_path / "kiosk.toml")
    assert done.returncode == 2
    assert (
        done.stderr
        == f"self-test: {tmp_path / 'kiosk.toml'}: no such file (is the kiosk enrolled?)\n"
    )
    assert done.stdout == ""


def test_register_adds_the_subcommand_to_a_tool_keeping_its_config_option(tmp_path, capsys):
    """As kiosk-provision builds it: its own --config before the subcommand, and
    ``args.func(args, layout)``."""
    import argparse
    from types import SimpleNamespace

    from provisioning.selftest.command import register

    parser = argparse.ArgumentParser(prog="kiosk-provision")
    parser.add_argument("--config", type=Path, default=Path("/etc/siths-kiosk/kiosk.toml"))
    register(parser.add_subparsers(dest="command", required=True))
    tool_config = tmp_path / "tool.toml"
    args = parser.parse_args(["--config", str(tool_config), "self-test", "--report"])
    assert args.report and not args.json and args.config == tool_config
    layout = SimpleNamespace(config=tool_config)
    assert args.func(args, layout) == 2  # no such file: the same shell runs
    assert str(tool_config) in capsys.readouterr().err
    own = parser.parse_args(["self-test", "--config", str(tmp_path / "own.toml")])
    assert own.config == tmp_path / "own.toml"
    with pytest.raises(SystemExit):
        parser.parse_args(["self-test", "--json", "--report"])
