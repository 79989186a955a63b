"""Which SITHS card this is and what is wrong with it, from its certificates (pure).

The session reads the certificates; this module decides what they say: the
holder and card facts the kiosk shows, from the identification certificate
where there is one, and every problem that stops an unlock here (untrusted,
expired, no certificates, certificates that disagree on card or holder).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from cryptography import x509

from hw.siths.certificates import CertificateRole, HolderCertificate, describe
from hw.siths.trust import CardProblem, TrustStore, certificate_problems


@dataclass(frozen=True)
class SithsCardInfo:
    """Which card this is, as the kiosk shows it, and whatever is wrong with it."""

    holder_name: str | None
    hsa_id: str | None
    organisation: str | None
    card_number: str | None
    personal_identity_number: str | None
    valid_to: dt.datetime | None
    certificates: list[HolderCertificate] = field(default_factory=list)
    problems: list[CardProblem] = field(default_factory=list)


def summarise(
    certificates: Sequence[x509.Certificate],
    authorities: Sequence[x509.Certificate],
    trust: TrustStore | None,
    now: dt.datetime,
) -> SithsCardInfo:
    """The card's facts and problems; ``authorities`` are the card's own CA certificates.

    Without a trust store the chain is not checked (a technician's quick look);
    the kiosk always passes its configured SITHS trust anchors.
    """
    holders = [describe(cert) for cert in certificates]
    holders = [h for h in holders if h.role is not CertificateRole.OTHER] or holders
    problems: list[CardProblem] = []
    if not holders:
        problems.append(CardProblem.NO_CERTIFICATES)
    for holder in holders:
        found = (
            certificate_problems(holder, now)
            if trust is None
            else trust.problems(holder, extra_intermediates=list(authorities), now=now)
        )
        for problem in found:
            if problem not in problems:
                problems.append(problem)
    main = next((h for h in holders if h.role is CertificateRole.IDENTIFICATION), None)
    main = main or (holders[0] if holders else None)
    if main is not None and any(
        (h.card_number, h.hsa_id) != (main.card_number, main.hsa_id) for h in holders
    ):
        problems.append(CardProblem.INCONSISTENT)
    return SithsCardInfo(
        holder_name=main.holder_name if main else None,
        hsa_id=main.hsa_id if main else None,
        organisation=main.organisation if main else None,
        card_number=main.card_number if main else None,
        personal_identity_number=main.personal_identity_number if main else None,
        valid_to=min((h.valid_to for h in holders), default=None),
        certificates=holders,
        problems=problems,
    )
