"""The installed appliance booted with systemd as PID 1: the units really run.

The root that ``scripts/install-kiosk`` made (conftest) is booted with
``systemd-nspawn`` on this machine's /usr. Its ``siths-kiosk.service`` runs unchanged,
cage and all, as the kiosk user with every hardening setting; the test adds only a
drop-in for what differs from a Pi: cage's output is a window on the test's Xvfb
(wlroots' x11 backend, see docs/testing.md for why not its headless one), and the
test's pcscd with its virtual reader stands at /run/pcscd, where Debian's is. The
kiosk talks to a card service and a Mosquitto started by the test, on loopback.

The tests run in order on one boot: ready with a state, a card read, the screen
(grim through cage's screencopy), the journal's fields, SIGKILL -> restarted,
SIGSTOP -> the watchdog restarts it, and ``systemctl stop`` -> offline.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from cardservice.service import ServiceConfig
from kiosk.config import render
from protocol import telemetry as tm
from tests.harness.cardservice import KIOSK_ID, CardServiceHarness
from tests.harness.container import BootedRoot
from tests.harness.fleet_listener import FleetListener
from tests.harness.mosquitto import FLEET_ID, Mosquitto
from tests.harness.png import colours
from tests.harness.waiting import wait_for
from tests.harness.xvfb import Xvfb
from tests.kiosk.conftest import broker_pki  # noqa: F401  (a fixture)
from tests.systemd.conftest import Installed
from tests.systemd.test_install import owner

pytestmark = [pytest.mark.pcsc, pytest.mark.ui]

UNIT = "siths-kiosk.service"
DROP_IN = """\
# Test only: cage's output on the test's X server instead of a DRM screen.
[Service]
Environment=WLR_BACKENDS=x11 WLR_RENDERER=pixman DISPLAY={display}
"""


def place(source: Path, root: Path, inside: str, owner: tuple[int, int], mode: int) -> Path:
    """Copy a file into the root, owned and private as on a unit; its path inside."""
    target = root / inside.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    os.chown(target, *owner)
    target.chmod(mode)
    return Path(inside)


class Appliance:
    """The booted root, the fleet's ears, and the kiosk's processes inside."""

    def __init__(
        self, container: BootedRoot, fleet: FleetListener, shots: Path, display: str
    ) -> None:
        self.container = container
        self.fleet = fleet
        self.shots = shots
        self.display = display

    def unit(self, *properties: str) -> dict[str, str]:
        return self.container.unit(UNIT, *properties)

    def running(self) -> dict[str, str] | None:
        """The unit's properties once it is active (READY sent) with a kiosk process."""
        shown = self.unit("ActiveState", "SubState", "MainPID", "NRestarts", "StatusText")
        if shown["ActiveState"] != "active" or shown["MainPID"] == "0":
            return None
        return shown

    def kiosk_pid(self) -> int:
        """The ``kiosk run`` process: cage's child (cage is the unit's main process)."""
        cage = int(self.unit("MainPID")["MainPID"])
        for pid in self.container.children(cage):
            if "kiosk\0run\0" in self.proc(pid, "cmdline"):
                return pid
        raise AssertionError(f"no kiosk process under cage ({cage})")

    def proc(self, pid: int, name: str) -> str:
        """``/proc/PID/NAME`` inside the container."""
        return self.container.run("cat", f"/proc/{pid}/{name}", check=False).stdout

    def status(self) -> str:
        return self.unit("StatusText")["StatusText"]


@pytest.fixture(scope="module")
def appliance(
    installed: Installed,
    tmp_path_factory,
    pcscd,
    broker_pki,  # noqa: F811
    siths_pki,
    smtp_sink,
    standard_siths_certificates,
) -> Iterator[Appliance]:
    why_not = BootedRoot.available()
    if why_not:
        pytest.skip(why_not)
    work = tmp_path_factory.mktemp("container")
    root = installed.root
    broker = Mosquitto(work / "broker", broker_pki).start()
    fleet = FleetListener(
        broker.port,
        broker_pki.service_ca,
        broker_pki.kiosk_cert(FLEET_ID),
        broker_pki.kiosk_key(FLEET_ID),
    )
    service = CardServiceHarness(work / "cs", broker_pki, smtp_sink, ServiceConfig())
    holder, _ = standard_siths_certificates
    service.register(holder)
    kiosk = owner(root, "siths-kiosk")
    etc, state = "/etc/siths-kiosk", "/var/lib/siths-kiosk"
    trust = work / "siths-trust.pem"
    trust.write_bytes(siths_pki.anchors_pem() + siths_pki.intermediates_pem())
    (work / "card-hash.key").write_bytes(b"k" * 32)
    readable, private = (0, kiosk), (kiosk, kiosk)
    ca = place(broker_pki.service_ca, root, f"{etc}/cardservice-ca.pem", readable, 0o640)
    anchors = place(trust, root, f"{etc}/siths-trust.pem", readable, 0o640)
    cert = place(broker_pki.kiosk_cert(KIOSK_ID), root, f"{state}/device.pem", private, 0o600)
    key = place(broker_pki.kiosk_key(KIOSK_ID), root, f"{state}/device.key", private, 0o600)
    hash_key = place(work / "card-hash.key", root, f"{state}/card-hash.key", private, 0o600)
    # What enrolment leaves beside the certificate: the fleet's address and its CA.
    (work / "fleet.json").write_text('{"fleet": "https://127.0.0.1:9"}')
    place(work / "fleet.json", root, f"{state}/fleet.json", private, 0o644)
    place(broker_pki.service_ca, root, f"{state}/fleet-ca.pem", private, 0o644)
    config = root / "etc/siths-kiosk/kiosk.toml"
    config.write_text(
        render(
            kiosk_id=KIOSK_ID,
            location="Entré A",
            url=service.url,
            ca_file=ca,
            client_cert=cert,
            client_key=key,
            trust_anchors=[anchors],
            telemetry={
                "broker": f"mqtts://127.0.0.1:{broker.port}",
                "ca_file": ca,
                "card_hash_key_file": hash_key,
                "outbox": Path("/var/lib/siths-kiosk/telemetry.sqlite3"),
                "health_interval": 5,
                "will_delay": 1,
            },
        )
    )
    os.chown(config, *readable)
    config.chmod(0o640)
    xvfb = Xvfb("800x480x24").start()
    drop_in = root / f"etc/systemd/system/{UNIT}.d/test-display.conf"
    drop_in.parent.mkdir(parents=True, exist_ok=True)
    drop_in.write_text(DROP_IN.format(display=xvfb.display))
    # The test's pcscd stands at /run/pcscd: Debian's socket unit must not take its place.
    for name in ("pcscd.socket", "pcscd.service"):
        masked = root / "etc/systemd/system" / name
        if not masked.is_symlink():
            masked.symlink_to("/dev/null")
    shots = work / "shots"
    shots.mkdir()
    os.chown(shots, *private)  # grim runs as the kiosk user, as the compositor's client
    container = BootedRoot(
        root, work / "nspawn.log", binds={pcscd.run_dir: "/run/pcscd", shots: "/var/tmp/shots"}
    )
    try:
        container.start()
        yield Appliance(container, fleet, shots, xvfb.display)
    finally:
        container.stop()
        xvfb.stop()
        fleet.stop()
        service.stop()
        broker.stop()


def test_systemd_starts_the_kiosk_and_hears_ready_and_its_state(appliance, make_siths_slot):
    running = wait_for(appliance.running, timeout=90, what="the kiosk unit to be active")
    assert running["NRestarts"] == "0"
    wait_for(lambda: appliance.status() == "idle", timeout=60, what="STATUS=idle")
    online = appliance.fleet.wait(lambda: appliance.fleet.states(KIOSK_ID), "the birth", 60)
    assert online
    cage = int(running["MainPID"])
    assert appliance.proc(cage, "comm").strip() == "cage"  # the screen is cage's
    assert appliance.kiosk_pid() in appliance.container.children(cage)
    make_siths_slot(identification_tries_left=0)
    wait_for(lambda: appliance.status() == "card-summary", timeout=60, what="STATUS=card-summary")


def test_first_boot_enrolment_is_skipped_and_renewal_waits_when_enrolled(appliance):
    # This kiosk has its device certificate: systemd skips the first-boot enrolment by its
    # condition, and the nightly renewal timer is loaded and waiting.
    enrol = appliance.container.unit("siths-kiosk-enrol.service", "ConditionResult", "LoadState")
    assert enrol == {"ConditionResult": "no", "LoadState": "loaded"}
    timer = appliance.container.unit("siths-kiosk-renew.timer", "ActiveState", "LoadState")
    assert timer == {"ActiveState": "active", "LoadState": "loaded"}


def test_the_renewal_unit_runs_the_tool_in_its_sandbox(appliance):
    # The nightly renewal as the timer starts it: kiosk-provision, installed, as root under
    # the unit's hardening, reads the state the kiosk runs with. Not due yet, so the fleet
    # is not asked and the kiosk is not restarted.
    appliance.container.run("systemctl", "start", "siths-kiosk-renew.service", timeout=90)
    ran = appliance.container.unit("siths-kiosk-renew.service", "Result", "ExecMainStatus")
    assert ran == {"Result": "success", "ExecMainStatus": "0"}
    said = appliance.container.journal("SYSLOG_IDENTIFIER=kiosk-provision")
    assert any("Not renewed yet" in str(entry.get("MESSAGE")) for entry in said), said


def test_the_screen_is_the_kiosk_full_screen_through_cage(appliance):
    # The kiosk draws through cage's Xwayland, not on the test's X server behind cage.
    environment = appliance.proc(appliance.kiosk_pid(), "environ").split("\0")
    display = next(item for item in environment if item.startswith("DISPLAY="))
    assert display != f"DISPLAY={appliance.display}"
    kiosk = str(owner(appliance.container.root, "siths-kiosk"))
    shot = appliance.container.run(
        "setpriv",
        f"--reuid={kiosk}",
        f"--regid={kiosk}",
        "--clear-groups",
        "env",
        "XDG_RUNTIME_DIR=/run/siths-kiosk",
        "WAYLAND_DISPLAY=wayland-0",
        "grim",
        "/var/tmp/shots/kiosk-under-cage.png",
        check=False,
    )
    assert shot.returncode == 0, shot.stderr
    png = appliance.shots / "kiosk-under-cage.png"
    print(f"the kiosk's screen under cage: {png}")
    assert colours(png) > 20  # the idle screen's words, not a blank output


def test_the_journal_has_the_kiosk_and_session_fields(appliance):
    entries = appliance.container.journal("SYSLOG_IDENTIFIER=siths-kiosk")
    assert entries, "nothing from the kiosk in the journal"
    assert {entry.get("KIOSK_DEVICE") for entry in entries} == {KIOSK_ID}
    in_session = [entry for entry in entries if entry.get("KIOSK_SESSION")]
    assert in_session, "no journal entry carries the session"
    assert {entry["KIOSK_STATE"] for entry in in_session} >= {"card-summary"}
    assert all(entry["_SYSTEMD_UNIT"] == UNIT for entry in entries)


def test_a_killed_kiosk_is_started_again_by_systemd(appliance):
    before = appliance.running()
    assert before is not None
    victim = appliance.kiosk_pid()
    appliance.container.run("kill", "-KILL", str(victim))
    again = wait_for(
        lambda: (
            (shown := appliance.running())
            and int(shown["NRestarts"]) == int(before["NRestarts"]) + 1
            and shown
        ),
        timeout=90,
        what="systemd to restart the killed kiosk",
    )
    assert again["MainPID"] != before["MainPID"]  # a new cage, with a new kiosk in it
    assert appliance.kiosk_pid() != victim


def test_a_frozen_kiosk_is_restarted_by_the_watchdog(appliance):
    before = wait_for(appliance.running, timeout=90, what="the kiosk unit to be active")
    victim = appliance.kiosk_pid()
    appliance.container.run("kill", "-STOP", str(victim))
    wait_for(
        lambda: (
            (shown := appliance.running())
            and int(shown["NRestarts"]) == int(before["NRestarts"]) + 1
        ),
        timeout=120,
        what="the watchdog to restart the frozen kiosk",
    )
    said = appliance.container.journal("_PID=1", f"UNIT={UNIT}")
    assert any("Watchdog timeout" in str(entry.get("MESSAGE")) for entry in said)


def test_systemctl_stop_ends_the_kiosk_cleanly(appliance):
    wait_for(appliance.running, timeout=90, what="the kiosk unit to be active")
    appliance.fleet.wait(
        lambda: appliance.fleet.states(KIOSK_ID)[-1].state == tm.KioskState.ONLINE,
        "the restarted kiosk's birth",
        60,
    )
    appliance.container.run("systemctl", "stop", UNIT, timeout=60)
    appliance.fleet.wait(
        lambda: appliance.fleet.states(KIOSK_ID)[-1].state == tm.KioskState.OFFLINE,
        "offline",
        30,
    )
    result = appliance.unit("Result", "ExecMainStatus", "ActiveState")
    assert result == {"Result": "success", "ExecMainStatus": "0", "ActiveState": "inactive"}
    said = [entry.get("MESSAGE") for entry in appliance.container.journal("_PID=1", f"UNIT={UNIT}")]
    assert not any("Killing" in str(message) for message in said[-5:]), said[-5:]
