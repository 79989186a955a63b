"""Whether a card's certificates chain to the SITHS trust anchors the kiosk is configured with.

The verification itself is pyca ``cryptography``'s X.509 path validation;
this module only chooses the policy (SITHS is not the Web PKI, so extension
rules are relaxed to "any", while signatures, validity and CA basic
constraints are still enforced) and names the failure in terms a holder can
act on (:class:`CardProblem`).
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable
from pathlib import Path

from cryptography import x509
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    PolicyBuilder,
    Store,
    VerificationError,
)

from hw.errors import UnreadableCertificate
from hw.siths.certificates import HolderCertificate
from protocol.reasons import Reason


class CardProblem(enum.Enum):
    """Why a card cannot be trusted or handled; the values are :class:`protocol.reasons.Reason`."""

    NO_CERTIFICATES = Reason.NO_CERTIFICATES.value
    UNTRUSTED_ISSUER = Reason.UNTRUSTED_ISSUER.value
    EXPIRED = Reason.CARD_EXPIRED.value
    NOT_YET_VALID = Reason.NOT_YET_VALID.value
    NO_CARD_NUMBER = Reason.NO_CARD_NUMBER.value
    NO_HSA_ID = Reason.NO_HSA_ID.value
    INCONSISTENT = Reason.INCONSISTENT_CERTIFICATES.value


def certificate_problems(holder: HolderCertificate, now: dt.datetime) -> list[CardProblem]:
    """What is wrong with a holder certificate on its own (no chain check)."""
    found: list[CardProblem] = []
    if now > holder.valid_to:
        found.append(CardProblem.EXPIRED)
    elif now < holder.valid_from:
        found.append(CardProblem.NOT_YET_VALID)
    if holder.card_number is None:
        found.append(CardProblem.NO_CARD_NUMBER)
    if holder.hsa_id is None:
        found.append(CardProblem.NO_HSA_ID)
    return found


class TrustStore:
    """SITHS root certificates and the intermediate (issuing) CAs the kiosk knows."""

    def __init__(
        self, anchors: Iterable[x509.Certificate], intermediates: Iterable[x509.Certificate] = ()
    ) -> None:
        self.anchors = list(anchors)
        self.intermediates = list(intermediates)
        if not self.anchors:
            raise ValueError("a trust store needs at least one root certificate")

    @classmethod
    def from_pem_files(
        cls, anchor_files: Iterable[Path], intermediate_files: Iterable[Path] = ()
    ) -> TrustStore:
        """Load roots and intermediates from PEM files (several certificates per file allowed)."""

        def load(paths: Iterable[Path]) -> list[x509.Certificate]:
            certs: list[x509.Certificate] = []
            for path in paths:
                certs.extend(x509.load_pem_x509_certificates(Path(path).read_bytes()))
            return certs

        return cls(load(anchor_files), load(intermediate_files))

    @classmethod
    def from_certificates(cls, certificates: Iterable[x509.Certificate]) -> TrustStore:
        """Self-signed certificates become anchors, the others intermediates."""
        anchors, intermediates = [], []
        for cert in certificates:
            (anchors if cert.issuer == cert.subject else intermediates).append(cert)
        return cls(anchors, intermediates)

    def problems(
        self,
        holder: HolderCertificate,
        *,
        extra_intermediates: Iterable[x509.Certificate] = (),
        now: dt.datetime | None = None,
    ) -> list[CardProblem]:
        """Everything wrong with one holder certificate; empty when it is fine."""
        now = now or dt.datetime.now(dt.UTC)
        found = certificate_problems(holder, now)
        # Path validation at a time inside the certificate's validity, so an
        # expired card is reported as expired, not also as untrusted.
        at = min(max(now, holder.valid_from), holder.valid_to)
        if not self._chains(holder.certificate, [*self.intermediates, *extra_intermediates], at):
            found.append(CardProblem.UNTRUSTED_ISSUER)
        return found

    def _chains(
        self, leaf: x509.Certificate, intermediates: list[x509.Certificate], at: dt.datetime
    ) -> bool:
        verifier = (
            PolicyBuilder()
            .store(Store(self.anchors))
            .time(at)
            .extension_policies(
                ca_policy=ExtensionPolicy.permit_all().require_present(
                    x509.BasicConstraints, Criticality.AGNOSTIC, None
                ),
                ee_policy=ExtensionPolicy.permit_all(),
            )
            .build_client_verifier()
        )
        try:
            verifier.verify(leaf, intermediates)
        except VerificationError:
            return False
        except Exception as error:  # a malformed extension surfaces only when validated
            raise UnreadableCertificate(
                f"a certificate on the card cannot be checked ({type(error).__name__})"
            ) from None
        return True
