"""``kiosk-fleet ca|token|kiosk|crl`` as facility IT runs them: one-line answers, the CA key
0600 and never overwritten, tokens listed by state, revoked, and the CRL written."""

from __future__ import annotations

import json

import pytest
from cryptography import x509

from fleet.cli import main
from protocol import enrolment as en


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_ca_tokens_revocation_and_the_crl(tmp_path, capsys, dev_pki):
    state = ["--state-dir", str(tmp_path / "state")]
    code, out, _ = run(capsys, "ca", "init", *state)
    assert code == 0 and "device CA in" in out
    assert (tmp_path / "state" / "device-ca.key").stat().st_mode & 0o777 == 0o600
    code, _, err = run(capsys, "ca", "init", *state)
    assert code == 1 and "already has a device CA; it was left as it is" in err

    fleet = [
        "--fleet-url",
        "https://fleet.example.org:9443",
        "--fleet-tls-ca",
        str(dev_pki.service_ca),
    ]
    token_file = tmp_path / "stick" / "enrol.json"
    token_file.parent.mkdir()
    code, out, _ = run(
        capsys,
        "token",
        "create",
        "--site",
        "Sjukhuset",
        "--valid",
        "2h",
        "--file",
        str(token_file),
        *fleet,
        *state,
    )
    assert code == 0
    token = en.parse_token(token_file.read_text())
    assert token.site == "Sjukhuset" and token.fleet_ca_sha256 == en.ca_sha256(
        dev_pki.service_ca.read_text()
    )
    assert token_file.stat().st_mode & 0o777 == 0o600
    assert en.encode_token(token) in out
    public_id = out.split()[1]

    code, out, _ = run(capsys, "token", "list", "--json", *state)
    assert [(t["id"], t["state"]) for t in json.loads(out)] == [(public_id, "usable")]
    assert token.token not in out, "the secret is never stored or shown again"
    assert run(capsys, "token", "revoke", public_id, *state)[0] == 0
    code, out, _ = run(capsys, "token", "list", *state)
    assert f"{public_id}\tSjukhuset\t-\t" in out and out.rstrip().endswith("revoked")
    code, _, err = run(capsys, "token", "revoke", public_id, *state)
    assert code == 1 and f"no unused token {public_id}" in err

    with pytest.raises(SystemExit) as usage:
        main(["token", "create", "--site", "S", "--valid", "soon", *fleet, *state])
    assert usage.value.code == 2 and "use a number and m, h or d" in capsys.readouterr().err
    code, out, _ = run(capsys, "kiosk", "revoke", "kiosk-nobody", *state)
    assert code == 1 and "has no unrevoked certificate" in out
    crl_file = tmp_path / "kiosks.crl"
    assert run(capsys, "crl", "--out", str(crl_file), *state)[0] == 0
    crl = x509.load_pem_x509_crl(crl_file.read_bytes())
    ca = x509.load_pem_x509_certificate((tmp_path / "state" / "device-ca.pem").read_bytes())
    assert crl.is_signature_valid(ca.public_key()) and len(list(crl)) == 0


def test_token_create_without_a_ca_says_how_to_make_one(tmp_path, capsys, dev_pki):
    code, _, err = run(
        capsys, "token", "create", "--site", "S", "--fleet-url", "https://f:1",
        "--fleet-tls-ca", str(dev_pki.service_ca), "--state-dir", str(tmp_path),
    )  # fmt: skip
    assert code == 1 and "no device CA in" in err and "kiosk-fleet ca init" in err


def test_serve_enrolment_options_make_settings_or_one_line_mistakes(tmp_path, capsys, dev_pki):
    from fleet.cli import build_parser
    from fleet.cli_options import server_settings

    state = tmp_path / "state"
    assert main(["ca", "init", "--state-dir", str(state)]) == 0
    key_file = tmp_path / "card-hash.key"
    key_file.write_bytes(b"k" * 32)
    base = [
        "serve", "--state-dir", str(state), "--broker", "mqtts://127.0.0.1:8883",
        "--broker-ca", str(dev_pki.service_ca), "--cert", str(dev_pki.service_cert),
        "--key", str(dev_pki.service_key), "--enrol-port", "0",
    ]  # fmt: skip
    tls = ["--tls-cert", str(dev_pki.service_cert), "--tls-key", str(dev_pki.service_key)]
    site = [
        "--site-card-service", "https://cs.example.org:8443/", "--site-card-service-ca",
        str(dev_pki.service_ca), "--site-card-trust", str(dev_pki.service_ca),
        "--card-hash-key-file", str(key_file), "--enrol-tls-ca", str(dev_pki.service_ca),
    ]  # fmt: skip
    with pytest.raises(OSError, match="--enrol-port needs --tls-cert and --tls-key"):
        server_settings(build_parser().parse_args(base))
    with pytest.raises(OSError, match="go together"):
        server_settings(build_parser().parse_args([*base, *tls, *site[:2]]))
    settings = server_settings(build_parser().parse_args([*base, *tls, *site]))
    assert settings.enrol is not None and settings.enrol.site is not None
    assert settings.enrol.site.card_service_url == "https://cs.example.org:8443"
    assert settings.enrol.site.broker_url == "mqtts://127.0.0.1:8883"
    key_file.write_bytes(b"short")
    with pytest.raises(OSError, match="at least 32 bytes"):
        server_settings(build_parser().parse_args([*base, *tls, *site]))
