"""The PKCS#15 v1.1 ASN.1 types the kiosk reads, declared with asn1crypto.

Only what a SITHS card needs: the object directory (EF.ODF), TokenInfo, PIN
objects (AODF), X.509 certificate objects (CDF) and private-key objects
(PrKDF, to learn which PIN protects which certificate's key). Other
alternatives are skipped by the model layer, not mis-parsed. Module default
tagging in PKCS#15 is IMPLICIT; tags on CHOICE types are necessarily explicit.
"""

from __future__ import annotations

from asn1crypto import core


class Path(core.Sequence):
    """A file path (absolute from 3F00, or relative to the application DF)."""

    _fields = [
        ("path", core.OctetString),
        ("index", core.Integer, {"optional": True}),
        ("length", core.Integer, {"implicit": 0, "optional": True}),
    ]


class PathOrObjects(core.Choice):
    """Where a directory file lives; cards use the path form."""

    _alternatives = [("path", Path)]


class OdfEntry(core.Choice):
    """One entry of EF.ODF: which directory file lists which kind of object."""

    _alternatives = [
        ("private_keys", PathOrObjects, {"explicit": 0}),
        ("public_keys", PathOrObjects, {"explicit": 1}),
        ("trusted_public_keys", PathOrObjects, {"explicit": 2}),
        ("secret_keys", PathOrObjects, {"explicit": 3}),
        ("certificates", PathOrObjects, {"explicit": 4}),
        ("trusted_certificates", PathOrObjects, {"explicit": 5}),
        ("useful_certificates", PathOrObjects, {"explicit": 6}),
        ("data_objects", PathOrObjects, {"explicit": 7}),
        ("auth_objects", PathOrObjects, {"explicit": 8}),
    ]


class TokenFlags(core.BitString):
    """TokenInfo flags."""

    _map = {0: "readonly", 1: "loginRequired", 2: "prnGeneration", 3: "eidCompliant"}


class TokenInfo(core.Sequence):
    """EF.TokenInfo: the card's serial number and manufacturer."""

    _fields = [
        ("version", core.Integer),
        ("serial_number", core.OctetString),
        ("manufacturer_id", core.UTF8String, {"optional": True}),
        ("label", core.UTF8String, {"implicit": 0, "optional": True}),
        ("token_flags", TokenFlags),
    ]


class CommonObjectFlags(core.BitString):
    """Flags every PKCS#15 object has."""

    _map = {0: "private", 1: "modifiable"}


class AnySequence(core.SequenceOf):
    """A SEQUENCE OF anything (access-control rules we do not interpret)."""

    _child_spec = core.Any


class CommonObjectAttributes(core.Sequence):
    """Label, flags and the id of the authentication object that protects this one."""

    _fields = [
        ("label", core.UTF8String, {"optional": True}),
        ("flags", CommonObjectFlags, {"optional": True}),
        ("auth_id", core.OctetString, {"optional": True}),
        ("user_consent", core.Integer, {"optional": True}),
        ("access_control_rules", AnySequence, {"optional": True}),
    ]


class CommonAuthenticationObjectAttributes(core.Sequence):
    """The authentication object's own id (what ``auth_id`` elsewhere points at)."""

    _fields = [
        ("auth_id", core.OctetString, {"optional": True}),
        ("auth_reference", core.Integer, {"optional": True}),
        ("se_identifier", core.Integer, {"implicit": 0, "optional": True}),
    ]


class PinFlags(core.BitString):
    """PIN flags (PKCS#15 v1.1, section 6.8.2)."""

    _map = {
        0: "case-sensitive",
        1: "local",
        2: "change-disabled",
        3: "unblock-disabled",
        4: "initialized",
        5: "needs-padding",
        6: "unblockingPin",
        7: "soPin",
        8: "disable-allowed",
        9: "integrity-protected",
        10: "confidentiality-protected",
        11: "exchangeRefData",
    }


class PinType(core.Enumerated):
    """How PIN characters are encoded for the card."""

    _map = {0: "bcd", 1: "ascii-numeric", 2: "utf8", 3: "half-nibble-bcd", 4: "iso9564-1"}


class PinAttributes(core.Sequence):
    """Length, encoding and on-card reference of a PIN."""

    _fields = [
        ("pin_flags", PinFlags),
        ("pin_type", PinType),
        ("min_length", core.Integer),
        ("stored_length", core.Integer),
        ("max_length", core.Integer, {"optional": True}),
        ("pin_reference", core.Integer, {"implicit": 0, "default": 0}),
        ("pad_char", core.OctetString, {"optional": True}),
        ("last_pin_change", core.GeneralizedTime, {"optional": True}),
        ("path", Path, {"optional": True}),
    ]


class PinObject(core.Sequence):
    """An AODF entry of the ``pin`` kind."""

    _fields = [
        ("common", CommonObjectAttributes),
        ("class_attributes", CommonAuthenticationObjectAttributes),
        ("sub_class_attributes", AnySequence, {"explicit": 0, "optional": True}),
        ("type_attributes", PinAttributes, {"explicit": 1}),
    ]


class CommonCertificateAttributes(core.Sequence):
    """The certificate's id (shared with its private key) and whether it is a CA."""

    _fields = [
        ("id", core.OctetString),
        ("authority", core.Boolean, {"default": False}),
    ]


class ObjectValue(core.Choice):
    """Where an object's value is: a path (the form cards use)."""

    _alternatives = [("indirect", Path)]


class X509CertificateAttributes(core.Sequence):
    """Where the certificate is stored."""

    _fields = [
        ("value", ObjectValue),
        ("subject", AnySequence, {"optional": True}),
    ]


class CertificateObject(core.Sequence):
    """A CDF entry of the ``x509Certificate`` kind."""

    _fields = [
        ("common", CommonObjectAttributes),
        ("class_attributes", CommonCertificateAttributes),
        ("sub_class_attributes", AnySequence, {"explicit": 0, "optional": True}),
        ("type_attributes", X509CertificateAttributes, {"explicit": 1}),
    ]


class KeyUsageFlags(core.BitString):
    """What a key may be used for."""

    _map = {
        0: "encrypt",
        1: "decrypt",
        2: "sign",
        3: "signRecover",
        4: "wrap",
        5: "unwrap",
        6: "verify",
        7: "verifyRecover",
        8: "derive",
        9: "nonRepudiation",
    }


class CommonKeyAttributes(core.Sequence):
    """The key's id (shared with its certificate) and usage."""

    _fields = [
        ("id", core.OctetString),
        ("usage", KeyUsageFlags),
        ("native", core.Boolean, {"default": True}),
        ("access_flags", core.BitString, {"optional": True}),
        ("key_reference", core.Integer, {"optional": True}),
    ]


class PrivateRsaKeyAttributes(core.Sequence):
    """Where an RSA private key lives and its size."""

    _fields = [("value", Path), ("modulus_length", core.Integer)]


class PrivateRsaKeyObject(core.Sequence):
    """A PrKDF entry of the ``privateRSAKey`` kind."""

    _fields = [
        ("common", CommonObjectAttributes),
        ("class_attributes", CommonKeyAttributes),
        ("sub_class_attributes", AnySequence, {"explicit": 0, "optional": True}),
        ("type_attributes", PrivateRsaKeyAttributes, {"explicit": 1}),
    ]


DIR_APPLICATION_TEMPLATE = 0x61
DIR_AID = 0x4F
DIR_LABEL = 0x50
DIR_PATH = 0x51
