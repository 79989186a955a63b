"""Switches on the virtual SITHS card for behaviours that differ between real card systems.

We cannot hold every SITHS card generation, so the virtual card reproduces each
difference that could catch the card layer out (the table is in
docs/card-profiles.md), and the tests that such a difference could break run
against every variant in :data:`VARIANTS`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Answers(enum.Enum):
    """How the card hands back answers longer than a short APDU carries."""

    #: Up to 256 bytes at once, the rest through 61xx / GET RESPONSE.
    CHAINED = "chained"
    #: T=0 style: a command with data gets 61xx and the answer through GET RESPONSE; a
    #: READ BINARY asking more than is left gets 6Cxx (ask again with this Le).
    T0 = "t0"
    #: No GET RESPONSE at all: a long answer comes in one piece to an extended-length Le.
    EXTENDED = "extended"


@dataclass(frozen=True)
class CardOs:
    """One card operating system's way of doing the things real cards disagree on."""

    #: PIN references are local to the PKCS#15 application: VERIFY and RESET RETRY
    #: COUNTER answer 6A88 unless the application's DF is the current one.
    local_pin_references: bool = False
    #: The empty VERIFY on the PUK answers 63CX like the PINs' (False: 6A88, the PUK
    #: cannot be asked).
    puk_reports_tries: bool = True
    #: After RESET RETRY COUNTER the PUK stays verified (its empty VERIFY answers 9000).
    puk_verified_after_reset: bool = False
    answers: Answers = Answers.CHAINED
    #: The card takes extended-length commands (False: it answers 6700 to any, as a card
    #: that cannot parse such a length does).
    extended_apdus: bool = True
    #: The ATR's historical bytes carry the card's capabilities (ISO/IEC 7816-4
    #: compact-TLV, extended Lc/Le as ``extended_apdus`` says); False: proprietary bytes.
    announces_capabilities: bool = False


#: Every variant the suite runs the card layer against, by the name tests show.
VARIANTS: dict[str, CardOs] = {
    "reference": CardOs(),
    "local-pin-references": CardOs(local_pin_references=True),
    "puk-answers-6a88": CardOs(puk_reports_tries=False),
    "puk-verified-after-reset": CardOs(puk_verified_after_reset=True),
    "t0-get-response": CardOs(answers=Answers.T0, extended_apdus=False),
    "extended-length": CardOs(answers=Answers.EXTENDED, announces_capabilities=True),
    "no-extended-length": CardOs(extended_apdus=False),
}
