"""Typed PKCS#15 objects, parsed from (and, for virtual cards, built into) DER.

Every parse function turns malformed input into :class:`Pkcs15Error`; the rest
of the card layer never sees an asn1crypto exception.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from asn1crypto import core

from hw import tlv
from hw.card_text import shown
from hw.errors import InvalidPinReference, MalformedCardData, TlvError
from hw.pins import PinPolicyViolation, PukFormatViolation
from hw.pkcs15 import asn1

T = TypeVar("T")

#: Bytes cards use to fill the unused end of a directory file.
_FILLER = (0x00, 0xFF)


class Pkcs15Error(MalformedCardData):
    """A PKCS#15 structure on the card is malformed or inconsistent."""


#: PIN references a command can carry (P2 is one byte).
_REFERENCES = range(0x100)


def _guard(what: str, parse: Callable[[], T]) -> T:
    """Run an asn1crypto parse; any failure becomes a :class:`Pkcs15Error`.

    asn1crypto parses lazily and raises a variety of built-in exceptions on
    garbage, so this boundary catches them all and names the structure.
    """
    try:
        return parse()
    except MalformedCardData:
        raise
    except Exception as error:
        raise Pkcs15Error(f"malformed {what}: {type(error).__name__}") from None


def elements(data: bytes) -> Iterator[bytes]:
    """Split a directory file into its DER elements, stopping at filler bytes."""
    offset = 0
    while offset < len(data) and data[offset] not in _FILLER:
        try:
            _item, end = tlv.parse_one(data, offset)
        except TlvError as error:
            raise Pkcs15Error(f"malformed directory file: {error}") from None
        yield bytes(data[offset:end])
        offset = end


# -- EF.DIR and EF.ODF ---------------------------------------------------------


@dataclass(frozen=True)
class Application:
    """An EF.DIR entry."""

    aid: bytes
    label: str
    path: bytes


def parse_dir(data: bytes) -> list[Application]:
    """Parse EF.DIR (a sequence of ``61`` application templates)."""
    apps = []
    for raw in elements(data):
        try:
            template = tlv.parse_single(raw, asn1.DIR_APPLICATION_TEMPLATE)
            fields = tlv.to_dict(template.children())
        except TlvError as error:
            raise Pkcs15Error(f"malformed EF.DIR entry: {error}") from None
        if asn1.DIR_AID not in fields:
            raise Pkcs15Error("EF.DIR entry without an application identifier")
        label = shown(fields.get(asn1.DIR_LABEL, b"").decode("utf-8", "replace"))
        apps.append(Application(fields[asn1.DIR_AID], label, fields.get(asn1.DIR_PATH, b"")))
    return apps


def build_dir(apps: list[Application]) -> bytes:
    """Build EF.DIR."""
    return b"".join(
        tlv.encode_tlv(
            asn1.DIR_APPLICATION_TEMPLATE,
            tlv.encode_all(
                [
                    (asn1.DIR_AID, app.aid),
                    (asn1.DIR_LABEL, app.label.encode()),
                    (asn1.DIR_PATH, app.path),
                ]
            ),
        )
        for app in apps
    )


def parse_odf(data: bytes) -> dict[str, bytes]:
    """Parse EF.ODF into {kind: path}; the first entry of each kind wins."""
    paths: dict[str, bytes] = {}
    for raw in elements(data):

        def one(raw: bytes = raw) -> tuple[str, bytes]:
            entry = asn1.OdfEntry.load(raw, strict=True)
            return entry.name, bytes(entry.chosen.chosen["path"].native)

        kind, path = _guard("EF.ODF entry", one)
        paths.setdefault(kind, path)
    return paths


def build_odf(paths: dict[str, bytes]) -> bytes:
    """Build EF.ODF from {kind: path}."""
    return b"".join(
        asn1.OdfEntry(
            name=kind, value=asn1.PathOrObjects(name="path", value=asn1.Path({"path": path}))
        ).dump()
        for kind, path in paths.items()
    )


@dataclass(frozen=True)
class TokenInfo:
    """What EF.TokenInfo says about the card."""

    serial_number: bytes
    manufacturer: str | None
    label: str | None


def parse_token_info(data: bytes) -> TokenInfo:
    """Parse EF.TokenInfo."""

    def parse() -> TokenInfo:
        info = asn1.TokenInfo.load(next(elements(data), b""), strict=True)
        native = info.native
        return TokenInfo(native["serial_number"], native["manufacturer_id"], native["label"])

    return _guard("EF.TokenInfo", parse)


def build_token_info(info: TokenInfo) -> bytes:
    """Build EF.TokenInfo."""
    value = {"version": 0, "serial_number": info.serial_number, "token_flags": set()}
    if info.manufacturer:
        value["manufacturer_id"] = info.manufacturer
    if info.label:
        value["label"] = info.label
    return asn1.TokenInfo(value).dump()


# -- PINs ----------------------------------------------------------------------


@dataclass(frozen=True)
class Pkcs15Pin:
    """A PIN (or PUK) object from the AODF."""

    label: str
    auth_id: bytes
    #: ``auth_id`` of the PIN that unblocks this one (its PUK), if any.
    unblocked_by: bytes | None
    reference: int
    flags: frozenset[str]
    pin_type: str
    min_length: int
    max_length: int | None
    stored_length: int
    pad_char: int | None

    @property
    def is_unblocking_pin(self) -> bool:
        """Whether this is a PUK."""
        return "unblockingPin" in self.flags

    def encode(self, value: str, *, what: str = "PIN") -> bytes:
        """Encode a PIN value as this object says (type, padding), checking its length."""
        violation = PukFormatViolation if self.is_unblocking_pin else PinPolicyViolation
        if not value.isascii() or (self.pin_type != "utf8" and not value.isdigit()):
            raise violation(f"the {what} must be digits only")
        high = self.max_length or self.stored_length
        if not self.min_length <= len(value) <= high:
            if self.min_length == high:
                raise violation(f"the {what} must be {high} digits long")
            raise violation(f"the {what} must be {self.min_length} to {high} digits long")
        pad = 0x00 if self.pad_char is None else self.pad_char
        if self.pin_type in ("ascii-numeric", "utf8"):
            raw = value.encode("ascii")
        elif self.pin_type == "bcd":
            nibbles = [int(d) for d in value]
            if len(nibbles) % 2:
                nibbles.append(pad & 0x0F)
            raw = bytes(nibbles[i] << 4 | nibbles[i + 1] for i in range(0, len(nibbles), 2))
        else:
            raise PinPolicyViolation(f"the card wants a {self.pin_type} PIN encoding, unsupported")
        if "needs-padding" in self.flags:
            if len(raw) > self.stored_length:
                raise PinPolicyViolation(f"the {what} is too long for this card")
            raw += bytes([pad]) * (self.stored_length - len(raw))
        return raw


def parse_aodf(data: bytes) -> list[Pkcs15Pin]:
    """Parse the AODF; non-PIN authentication objects (biometrics...) are skipped."""
    pins = []
    for raw in elements(data):
        if raw[0] != 0x30:
            continue

        def one(raw: bytes = raw) -> Pkcs15Pin:
            native = asn1.PinObject.load(raw, strict=True).native
            common, cls, attrs = (
                native["common"],
                native["class_attributes"],
                native["type_attributes"],
            )
            if cls["auth_id"] is None:
                raise Pkcs15Error("PIN object without its own auth id")
            pad = attrs["pad_char"]
            if pad is not None and len(pad) != 1:
                raise Pkcs15Error("PIN pad character must be one byte")
            stored = attrs["stored_length"]
            if not 0 < stored <= 64 or not 0 <= attrs["min_length"] <= 64:
                raise Pkcs15Error("PIN lengths out of range")
            reference = attrs["pin_reference"]
            if reference is None or reference not in _REFERENCES:
                raise InvalidPinReference(f"PIN reference {reference} is not one byte")
            return Pkcs15Pin(
                label=shown(common["label"] or f"PIN {cls['auth_id'].hex()}"),
                auth_id=cls["auth_id"],
                unblocked_by=common["auth_id"],
                reference=reference,
                flags=frozenset(attrs["pin_flags"]),
                pin_type=attrs["pin_type"],
                min_length=attrs["min_length"],
                max_length=attrs["max_length"],
                stored_length=stored,
                pad_char=None if pad is None else pad[0],
            )

        pins.append(_guard("PIN object", one))
    return pins


def build_aodf(pins: list[Pkcs15Pin]) -> bytes:
    """Build the AODF."""
    out = b""
    for pin in pins:
        common: dict[str, object] = {"label": pin.label, "flags": {"private"}}
        if pin.unblocked_by:
            common["auth_id"] = pin.unblocked_by
        attrs: dict[str, object] = {
            "pin_flags": set(pin.flags),
            "pin_type": pin.pin_type,
            "min_length": pin.min_length,
            "stored_length": pin.stored_length,
            "pin_reference": pin.reference,
        }
        if pin.max_length is not None:
            attrs["max_length"] = pin.max_length
        if pin.pad_char is not None:
            attrs["pad_char"] = bytes([pin.pad_char])
        out += asn1.PinObject(
            {
                "common": common,
                "class_attributes": {"auth_id": pin.auth_id},
                "type_attributes": attrs,
            }
        ).dump()
    return out


# -- certificates and keys -----------------------------------------------------


@dataclass(frozen=True)
class Pkcs15Certificate:
    """A CDF entry: where an X.509 certificate is stored."""

    label: str
    id: bytes
    path: bytes
    authority: bool = False


def parse_cdf(data: bytes) -> list[Pkcs15Certificate]:
    """Parse the CDF; non-X.509 entries are skipped."""
    certs = []
    for raw in elements(data):
        if raw[0] != 0x30:
            continue

        def one(raw: bytes = raw) -> Pkcs15Certificate:
            native = asn1.CertificateObject.load(raw, strict=True).native
            return Pkcs15Certificate(
                label=shown(native["common"]["label"] or ""),
                id=native["class_attributes"]["id"],
                path=native["type_attributes"]["value"]["path"],
                authority=bool(native["class_attributes"]["authority"]),
            )

        certs.append(_guard("certificate object", one))
    return certs


def build_cdf(certs: list[Pkcs15Certificate]) -> bytes:
    """Build the CDF."""
    return b"".join(
        asn1.CertificateObject(
            {
                "common": {"label": cert.label},
                "class_attributes": {"id": cert.id, "authority": cert.authority},
                "type_attributes": {
                    "value": asn1.ObjectValue(name="indirect", value={"path": cert.path})
                },
            }
        ).dump()
        for cert in certs
    )


@dataclass(frozen=True)
class Pkcs15PrivateKey:
    """A PrKDF entry: a key, its certificate (same id) and the PIN protecting it."""

    label: str
    id: bytes
    auth_id: bytes | None
    usage: frozenset[str]
    path: bytes
    modulus_length: int


def parse_prkdf(data: bytes) -> list[Pkcs15PrivateKey]:
    """Parse the PrKDF; only RSA key entries are understood, others skipped."""
    keys = []
    for raw in elements(data):
        if raw[0] != 0x30:
            continue

        def one(raw: bytes = raw) -> Pkcs15PrivateKey:
            native = asn1.PrivateRsaKeyObject.load(raw, strict=True).native
            return Pkcs15PrivateKey(
                label=shown(native["common"]["label"] or ""),
                id=native["class_attributes"]["id"],
                auth_id=native["common"]["auth_id"],
                usage=frozenset(native["class_attributes"]["usage"]),
                path=native["type_attributes"]["value"]["path"],
                modulus_length=native["type_attributes"]["modulus_length"],
            )

        keys.append(_guard("private key object", one))
    return keys


def build_prkdf(keys: list[Pkcs15PrivateKey]) -> bytes:
    """Build the PrKDF."""
    return b"".join(
        asn1.PrivateRsaKeyObject(
            {
                "common": {"label": key.label, "flags": {"private"}, "auth_id": key.auth_id},
                "class_attributes": {"id": key.id, "usage": set(key.usage)},
                "type_attributes": {
                    "value": {"path": key.path},
                    "modulus_length": key.modulus_length,
                },
            }
        ).dump()
        for key in keys
    )


__all__ = ["core"]
