"""The smart-card checks: pcscd answers, a reader is there, a test card reads.

Three questions asked in order, so the technician learns the first thing that is wrong:
is the smart-card service (pcscd) running, does it see a reader, and does the
technician's test card read? The card is read with the card layer's read phase only
(the application SELECT, the PKCS#15 files and certificates, and the empty VERIFY that
reports a PIN's tries without spending one): the self-test never presents a PIN or a PUK.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hw import pcsc
from hw.errors import CardError, NoCard, PcscUnavailable, UnsupportedCard
from hw.pins import PinStatus
from hw.profiles import open_session
from hw.siths.session import SithsSession
from hw.siths.trust import CardProblem, TrustStore
from provisioning.selftest.results import CheckResult

PCSCD = ("pcscd", "Smart-card service (pcscd)")
READER = ("reader", "Card reader")
CARD = ("card", "Test card (read only, no PIN tries)")

_RESTART_PCSCD = (
    "start it: sudo systemctl restart pcscd.socket pcscd.service; "
    "if it stops again, 'journalctl -u pcscd -n 50' says why"
)


@dataclass(frozen=True)
class PcscLook:
    """What pcscd said when asked, without waiting: its readers and which hold a card."""

    error: CardError | None = None
    readers: Sequence[pcsc.ReaderState] = field(default_factory=tuple)


def look_at_pcsc() -> PcscLook:
    """Ask pcscd for its readers and their cards (never waits for a change)."""
    try:
        with pcsc.pcsc_context() as context:
            return PcscLook(None, pcsc.reader_states(context, pcsc.list_readers(context)))
    except CardError as error:
        return PcscLook(error)


def judge_pcscd(look: PcscLook) -> CheckResult:
    """Whether the smart-card service answered."""
    if isinstance(look.error, PcscUnavailable):
        return CheckResult.failed(*PCSCD, "pcscd is not running", _RESTART_PCSCD)
    if look.error is not None:
        return CheckResult.failed(
            *PCSCD,
            f"pcscd answered with an error: {look.error}",
            _RESTART_PCSCD,
        )
    return CheckResult.ok(*PCSCD, "pcscd is running")


def judge_reader(look: PcscLook) -> CheckResult:
    """Whether pcscd sees at least one reader (only asked when pcscd answered)."""
    if look.error is not None:
        return CheckResult.skipped(*READER, "pcscd is not running (see above)")
    if not look.readers:
        return CheckResult.failed(
            *READER,
            "no card reader is connected (pcscd is running but sees no reader)",
            "plug the card reader into a USB port of the kiosk (not a hub), wait 5 seconds and "
            "run the self-test again; 'lsusb' should list it; if it does not, try another "
            "port or cable, then another reader",
        )
    names = ", ".join(state.reader for state in look.readers)
    return CheckResult.ok(*READER, f"{len(look.readers)} reader(s): {names}")


@dataclass(frozen=True)
class CardRead:
    """What the read phase learned from the test card; nothing personal is kept."""

    reader: str
    profile: str
    pins: Sequence[PinStatus]
    problems: Sequence[CardProblem]


def _pin_words(pins: Sequence[PinStatus]) -> str:
    parts = []
    for pin in pins:
        if pin.blocked:
            state = "blocked"
        elif pin.tries_left is not None:
            state = f"{pin.tries_left} tries left"
        else:
            state = "state not reported"
        parts.append(f"{pin.role or pin.name} {state}")
    return "; ".join(parts) or "no PINs reported"


def read_test_card(reader: str, trust: TrustStore | None, apdu_timeout: float) -> CardRead:
    """The card layer's read phase on ``reader``, in one transaction; raises :class:`CardError`.

    Only what the kiosk reads on insertion: the profile, each PIN's state through the
    empty VERIFY (which spends no try), and for a SITHS card its certificates checked
    against the trust anchors. No PIN, PUK or unlock command is ever sent.
    """

    def read() -> CardRead:
        session = open_session(connection)
        pins = session.pin_statuses()
        problems: list[CardProblem] = []
        if isinstance(session, SithsSession):
            problems = session.card_info(trust).problems
        return CardRead(reader, session.profile, pins, problems)

    with pcsc.PcscConnection(reader, apdu_timeout=apdu_timeout) as connection:
        return connection.in_transaction(read)


def load_trust(anchors: Sequence[Path]) -> TrustStore:
    """The SITHS trust anchors as the kiosk loads them; ``OSError``/``ValueError`` if unusable."""
    return TrustStore.from_pem_files(anchors)


def judge_card(read: CardRead) -> CheckResult:
    """Whether the test card read cleanly and its certificates are trusted."""
    where = f"{read.profile.upper()} card in {read.reader}: {_pin_words(read.pins)}"
    if CardProblem.UNTRUSTED_ISSUER in read.problems:
        return CheckResult.failed(
            *CARD,
            f"{where}; its certificates do not chain to the trust anchors in kiosk.toml",
            "cards.trust_anchors in kiosk.toml must name the SITHS root and issuing CA "
            "certificates of this card's PKI (a test card needs the test PKI's); "
            "enrolment installs them: enrol again or copy the right files",
        )
    if read.problems:
        listed = ", ".join(problem.value for problem in read.problems)
        return CheckResult.failed(
            *CARD,
            f"{where}; the card itself has a problem: {listed}",
            "use a current, valid test card (this one cannot prove the kiosk works)",
        )
    return CheckResult.ok(*CARD, f"{where}; read only, no PIN or PUK try spent")


def card_check(look: PcscLook, anchors: Sequence[Path], apdu_timeout: float) -> CheckResult:
    """Read the test card in the first reader holding one."""
    if look.error is not None or not look.readers:
        return CheckResult.skipped(*CARD, "no reader to read a card with (see above)")
    holding = [state.reader for state in look.readers if state.card_present]
    if not holding:
        return CheckResult.failed(
            *CARD,
            "no card in the reader",
            "insert the technician's test card (chip first, face up) and run the self-test "
            "again; the card is only read: no PIN or PUK is tried",
        )
    try:
        trust = load_trust(anchors)
    except (OSError, ValueError) as error:
        return CheckResult.failed(
            *CARD,
            f"the SITHS trust anchors cannot be loaded ({error})",
            "cards.trust_anchors in kiosk.toml must name readable PEM files of the SITHS root "
            "and issuing CA certificates; enrolment installs them: enrol again",
        )
    try:
        return judge_card(read_test_card(holding[0], trust, apdu_timeout))
    except NoCard:
        return CheckResult.failed(
            *CARD,
            "the card was taken out while it was read",
            "leave the test card in the reader and run the self-test again",
        )
    except UnsupportedCard as error:
        return CheckResult.failed(
            *CARD,
            f"the card in {holding[0]} is neither a SITHS nor a PIV card ({error})",
            "use a SITHS test card",
        )
    except CardError as error:
        return CheckResult.failed(
            *CARD,
            f"the card in {holding[0]} could not be read: {error}",
            "take the card out and insert it again (chip first, face up); if it fails again try "
            "another test card; if every card fails, replace the reader",
        )
