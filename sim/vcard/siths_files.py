"""The file system of the virtual SITHS card: MF, EF.DIR and the PKCS#15 application.

Built from the holder's certificates with the same PKCS#15 builders the card
layer parses with (:mod:`hw.pkcs15.model`); see docs/card-profiles.md for the
layout. :func:`replace_file` lets a test give the card a malformed file.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from hw.pins import PAD
from hw.pkcs15 import model
from hw.siths.certificates import CertificateRole
from sim.vcard.iso_fs import DedicatedFile, ElementaryFile

PKCS15_AID = bytes.fromhex("A000000063504B43532D3135")
APP_DF = 0x5015
IDENTIFICATION_PIN_REF = 0x81
SIGNATURE_PIN_REF = 0x82
PUK_REF = 0x83
ADMIN_KEY_REF = 0x01

IDENTIFICATION_PIN_LABEL = "Identification PIN"
SIGNATURE_PIN_LABEL = "Signature PIN"
PUK_LABEL = "PUK"


def _path(*fids: int) -> bytes:
    return b"".join(fid.to_bytes(2, "big") for fid in fids)


def pkcs15_tree(
    identification: x509.Certificate | None,
    signature: x509.Certificate | None,
    *,
    serial: bytes,
    label: str = "SITHS eID",
) -> DedicatedFile:
    """The card's file system: MF, EF.DIR, DF.PKCS15 with its directory files."""
    mf = DedicatedFile(0x3F00)
    app = DedicatedFile(APP_DF, aid=PKCS15_AID)
    mf.add(app)
    mf.add(
        ElementaryFile(
            0x2F00,
            model.build_dir([model.Application(PKCS15_AID, label, _path(0x3F00, APP_DF))]),
        )
    )
    pins = [
        model.Pkcs15Pin(
            IDENTIFICATION_PIN_LABEL,
            b"\x01",
            b"\x03",
            IDENTIFICATION_PIN_REF,
            frozenset({"local", "initialized", "needs-padding"}),
            "ascii-numeric",
            6,
            8,
            8,
            PAD,
        ),
        model.Pkcs15Pin(
            SIGNATURE_PIN_LABEL,
            b"\x02",
            b"\x03",
            SIGNATURE_PIN_REF,
            frozenset({"local", "initialized", "needs-padding"}),
            "ascii-numeric",
            6,
            8,
            8,
            PAD,
        ),
        model.Pkcs15Pin(
            PUK_LABEL,
            b"\x03",
            None,
            PUK_REF,
            frozenset({"local", "initialized", "unblockingPin", "soPin"}),
            "ascii-numeric",
            8,
            8,
            8,
            PAD,
        ),
    ]
    certificates: list[model.Pkcs15Certificate] = []
    keys: list[model.Pkcs15PrivateKey] = []
    for index, (cert, role, pin_id) in enumerate(
        [
            (identification, CertificateRole.IDENTIFICATION, b"\x01"),
            (signature, CertificateRole.SIGNATURE, b"\x02"),
        ]
    ):
        if cert is None:
            continue
        key_id = bytes([0x45 + index])
        cert_fid = 0x4301 + index
        name = "Identification" if role is CertificateRole.IDENTIFICATION else "Signature"
        der = cert.public_bytes(serialization.Encoding.DER)
        app.add(ElementaryFile(cert_fid, der))
        certificates.append(
            model.Pkcs15Certificate(f"{name} certificate", key_id, _path(0x3F00, APP_DF, cert_fid))
        )
        usage = (
            {"sign", "decrypt"} if role is CertificateRole.IDENTIFICATION else {"nonRepudiation"}
        )
        keys.append(
            model.Pkcs15PrivateKey(
                f"{name} key",
                key_id,
                pin_id,
                frozenset(usage),
                _path(0x3F00, APP_DF, 0x4B01 + index),
                cert.public_key().key_size,
            )
        )
    odf = {
        "private_keys": _path(0x3F00, APP_DF, 0x4401),
        "certificates": _path(0x3F00, APP_DF, 0x4402),
        "auth_objects": _path(0x3F00, APP_DF, 0x4403),
    }
    app.add(ElementaryFile(0x5031, model.build_odf(odf)))
    app.add(
        ElementaryFile(
            0x5032, model.build_token_info(model.TokenInfo(serial, "Kiosk virtual card", label))
        )
    )
    app.add(ElementaryFile(0x4401, model.build_prkdf(keys)))
    app.add(ElementaryFile(0x4402, model.build_cdf(certificates)))
    app.add(ElementaryFile(0x4403, model.build_aodf(pins)))
    return mf


def app_df(files: DedicatedFile) -> DedicatedFile:
    """The PKCS#15 application's DF."""
    app = files.children[APP_DF]
    assert isinstance(app, DedicatedFile)
    return app


def replace_file(files: DedicatedFile, fid: int, data: bytes) -> None:
    """Give the application's EF ``fid`` new content (a test's malformed AODF or certificate)."""
    app_df(files).add(ElementaryFile(fid, data))
