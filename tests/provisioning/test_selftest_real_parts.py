"""The self-test against real parts: the private pcscd with a virtual SITHS card, the
reference card service over HTTPS with mutual TLS, and Mosquitto with TLS and the ACL.

It passes on a healthy setup, and finds and names each fault made real here: a wrong CA,
a refused device certificate, clock skew, an unreachable broker, an unreachable card
service. The clock skew is made at the check's interface (the kiosk's clock as the check
reads it is put 5 minutes ahead), not by changing this machine's clock: the card
service's Date header is real, and a kiosk clock 5 minutes ahead of a correct server is
the same measurement as a correct kiosk against a server 5 minutes behind.
"""

from __future__ import annotations

import time

import pytest

from hw.board import RaspberryPiBoard
from provisioning.selftest.report import checklist, ticket
from provisioning.selftest.results import Status, exit_code
from provisioning.selftest.run import Options, run_checks, self_test
from sim.broker import free_port
from sim.dev_pki import write_dev_pki
from sim.vcard.apdu_log import ApduLog
from sim.vcard.siths_card import SithsCardState, VirtualSithsCard
from tests.harness.cardservice import KIOSK_ID
from tests.harness.mosquitto import Mosquitto
from tests.provisioning.conftest import SITE, pi_tree, target_of

pytestmark = pytest.mark.pcsc

INS_VERIFY, INS_CHANGE, INS_RESET = 0x20, 0x24, 0x2C


@pytest.fixture
def options(tmp_path) -> Options:
    """A cool, well-powered Raspberry Pi's readings; no systemd (this machine has none)."""
    board = RaspberryPiBoard(pi_tree(tmp_path / "pi"), disk=tmp_path)
    return Options(board=board, systemd_runtime=tmp_path / "no-systemd")


@pytest.fixture
def logged_card(make_slot, siths_pki, standard_siths_certificates):
    """The technician's test card (a virtual SITHS card) behind an APDU log, in slot 0."""
    holder, certificates = standard_siths_certificates
    state = SithsCardState.issue(holder, siths_pki, certificates=certificates)
    log = ApduLog(VirtualSithsCard(state))
    make_slot(log)
    return state, log


def by_id(results):
    return {result.id: result for result in results}


def test_a_healthy_kiosk_passes_and_the_card_spends_no_try(kiosk_config, logged_card, options):
    state, log = logged_card
    tries = [c.tries_left for c in (state.identification_pin, state.signature_pin, state.puk)]
    run = self_test(target_of(kiosk_config()), options)
    results = by_id(run.results)
    failed = [r for r in run.results if r.status is Status.FAILED]
    assert not failed, checklist(run)
    assert exit_code(run.results) == 0
    for check in ("pcscd", "reader", "card", "network-card-service", "network-broker"):
        assert results[check].status is Status.OK, checklist(run)
    for check in ("clock", "card-service", "broker", "disk", "temperature", "power"):
        assert results[check].status is Status.OK, checklist(run)
    assert results["units"].found == "not under systemd"
    assert "- Kiosk service (systemd): skipped: not under systemd" in checklist(run)
    assert results["display"].status is Status.SKIPPED
    assert "SITHS card" in results["card"].found and "no PIN or PUK try" in results["card"].found
    assert "came back" in results["broker"].found
    # Reads only: no VERIFY with a value, no RESET RETRY COUNTER, no CHANGE REFERENCE DATA.
    spent = [c for c in log.commands if c.ins in (INS_RESET, INS_CHANGE)]
    spent += [c for c in log.commands if c.ins == INS_VERIFY and c.data_length]
    assert not spent, [str(c) for c in spent]
    assert any(c.ins == INS_VERIFY for c in log.commands)  # the states were asked (empty VERIFY)
    after = [c.tries_left for c in (state.identification_pin, state.signature_pin, state.puk)]
    assert after == tries
    report = ticket(run)
    assert f"kiosk {KIOSK_ID} | site {SITE}" in report and "self-test passed" in report
    assert len(report.splitlines()) == 2 + len(run.results)


def test_no_card_in_the_reader_is_named(kiosk_config, pcscd, options):
    results = by_id(run_checks(target_of(kiosk_config()), options))
    assert results["pcscd"].status is Status.OK and results["reader"].status is Status.OK
    assert results["card"].status is Status.FAILED
    assert results["card"].found == "no card in the reader"
    assert "insert the technician's test card" in results["card"].fix


def test_a_wrong_card_service_ca_is_named(kiosk_config, dev_pki, logged_card, options):
    wrong = kiosk_config(ca_file=dev_pki.device_ca)  # not the CA that signed the service
    results = by_id(run_checks(target_of(wrong), options))
    check = results["card-service"]
    assert check.status is Status.FAILED
    assert check.found.startswith("wrong CA: the card service's certificate is not signed")
    assert "card_service.ca_file" in check.fix
    assert results["broker"].status is Status.OK  # the broker's CA file is still right
    assert results["clock"].status is Status.OK  # the clock is read without trusting the server


def test_a_wrong_broker_ca_is_named(kiosk_config, dev_pki, logged_card, options):
    results = by_id(run_checks(target_of(kiosk_config(broker_ca=dev_pki.device_ca)), options))
    check = results["broker"]
    assert check.status is Status.FAILED, check
    assert check.found.startswith("wrong CA: the broker's certificate is not signed")
    assert "telemetry.ca_file" in check.fix
    assert results["card-service"].status is Status.OK


def test_a_device_certificate_from_another_fleet_is_refused_by_both(
    kiosk_config, tmp_path, logged_card, options
):
    foreign = write_dev_pki(tmp_path / "foreign", [KIOSK_ID])
    config = kiosk_config(
        client_cert=foreign.kiosk_cert(KIOSK_ID), client_key=foreign.kiosk_key(KIOSK_ID)
    )
    results = by_id(run_checks(target_of(config), options))
    for check in (results["card-service"], results["broker"]):
        assert check.status is Status.FAILED, check
        assert "refused this kiosk's device certificate" in check.found, check
        assert "kiosk-provision renew" in check.fix


def test_clock_skew_is_named_in_minutes(kiosk_config, logged_card, options):
    ahead = Options(
        board=options.board,
        systemd_runtime=options.systemd_runtime,
        clock=lambda: time.time() + 300,
    )
    run = self_test(target_of(kiosk_config()), ahead)
    check = by_id(run.results)["clock"]
    assert check.status is Status.FAILED
    assert check.found.startswith("clock skew: the kiosk's clock is 5 min")
    assert "ahead of the card service's" in check.found
    assert "timedatectl set-ntp true" in check.fix
    assert exit_code(run.results) == 1
    assert "✗ Clock: clock skew" in checklist(run)


def test_an_unreachable_broker_is_named(kiosk_config, logged_card, options):
    config = kiosk_config(broker=f"mqtts://127.0.0.1:{free_port()}")
    results = by_id(run_checks(target_of(config), options))
    network = results["network-broker"]
    assert network.status is Status.FAILED
    assert "refused the connection" in network.found and "broker is not listening" in network.found
    assert "telemetry.broker" in network.fix
    assert results["broker"].status is Status.SKIPPED
    assert results["card-service"].status is Status.OK


def test_an_unreachable_card_service_is_named(kiosk_config, logged_card, options):
    config = kiosk_config(url=f"https://127.0.0.1:{free_port()}")
    results = by_id(run_checks(target_of(config), options))
    network = results["network-card-service"]
    assert network.status is Status.FAILED
    assert "card service is not listening" in network.found
    assert "card_service.url" in network.fix
    assert results["card-service"].status is Status.SKIPPED
    assert results["clock"].status is Status.SKIPPED
    assert results["broker"].status is Status.OK


def test_a_name_that_does_not_resolve_is_named(kiosk_config, logged_card, options):
    config = kiosk_config(url="https://cardservice.invalid:8443")
    network = by_id(run_checks(target_of(config), options))["network-card-service"]
    assert network.status is Status.FAILED
    assert network.found == "the name cardservice.invalid cannot be resolved"


def test_a_broker_whose_acl_lacks_the_self_test_topic_is_named(
    kiosk_config, tmp_path, dev_pki, logged_card, options
):
    old = Mosquitto(tmp_path / "old-broker", dev_pki)
    acl = old.folder / "acl"
    lines = acl.read_text().splitlines(keepends=True)
    acl.write_text("".join(line for line in lines if "selftest" not in line))
    old.start()
    try:
        config = kiosk_config(broker=f"mqtts://127.0.0.1:{old.port}")
        check = by_id(run_checks(target_of(config), options))["broker"]
    finally:
        old.stop()
    assert check.status is Status.FAILED, check
    assert "siths-kiosk/v1/kiosk-entre-a/selftest" in check.found
    assert "pattern readwrite siths-kiosk/v1/%u/selftest" in check.fix
