"""A kiosk whose configured id is not its certificate's stays out of service and says why."""

from __future__ import annotations

import logging

from kiosk.appliance import Appliance
from kiosk.config import parse, render
from kiosk.device_identity import identity_problem
from tests.harness.cardservice import KIOSK_ID


def config_for(dev_pki, tmp_path, kiosk_id: str):
    anchor = tmp_path / "anchor.pem"
    anchor.write_bytes(dev_pki.service_ca.read_bytes())  # any PEM certificate will do here
    return parse(
        render(
            kiosk_id=kiosk_id,
            location="Entré A",
            url="https://127.0.0.1:9",
            ca_file=dev_pki.service_ca,
            client_cert=dev_pki.kiosk_cert(KIOSK_ID),
            client_key=dev_pki.kiosk_key(KIOSK_ID),
            trust_anchors=[anchor],
            outcome_outbox=tmp_path / "outcomes.sqlite3",
        )
    )


def test_the_certificate_names_the_configured_kiosk(dev_pki):
    assert identity_problem(KIOSK_ID, dev_pki.kiosk_cert(KIOSK_ID)) is None


def test_another_id_is_named_with_both_values(dev_pki):
    problem = identity_problem("kiosk-b", dev_pki.kiosk_cert(KIOSK_ID))
    assert "'kiosk-b'" in problem and repr(KIOSK_ID) in problem


def test_a_missing_or_broken_certificate_is_named(tmp_path):
    assert "no device certificate" in identity_problem("k", tmp_path / "none.pem")
    broken = tmp_path / "broken.pem"
    broken.write_text("not a certificate")
    assert "cannot be read" in identity_problem("k", broken)


def test_the_appliance_is_not_provisioned_under_the_wrong_id(dev_pki, tmp_path, caplog):
    wrong = Appliance.build(config_for(dev_pki, tmp_path, "kiosk-b"))
    right = Appliance.build(config_for(dev_pki, tmp_path, KIOSK_ID))
    with caplog.at_level(logging.ERROR):
        assert wrong.controller.provisioned() is False
        assert wrong.controller.provisioned() is False
    assert right.controller.provisioned() is True
    said = [r.message for r in caplog.records if "device certificate names" in r.message]
    assert len(said) == 1  # once, not at every health check
    for appliance in (wrong, right):
        appliance.client.close()
