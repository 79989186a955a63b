"""``kiosk demo``: a blocked virtual SITHS card, unblocked end to end, on the real PC/SC stack.

This is the command-line stage of the demo: the kiosk UI, the card service
and the simulated phone join it in later work. It needs pcscd with the vpcd
driver (``./scripts/demo`` installs and starts them) and:

1. makes a test SITHS PKI and inserts a virtual SITHS card whose
   identification PIN is blocked,
2. waits for the reader watcher to report it, reads which card it is, checks
   its certificates against the test trust anchors and reads every PIN's state,
3. unblocks the PIN with the PUK from the holder's "PUK letter" and a new PIN
   (typed by the person, or chosen by the script with ``--scripted``),
4. verifies the new PIN and removes the card.

It exits 0 only when the card ends up unblocked with a PIN that verifies.
"""

from __future__ import annotations

import getpass
import queue
import secrets
import sys

from hw import pcsc
from hw.errors import CardError
from hw.pcsc import PcscConnection
from hw.profiles import open_session
from hw.reader_events import EventKind, ReaderEvent
from hw.reader_watcher import ReaderWatcher
from hw.siths.session import SithsSession
from hw.siths.trust import TrustStore
from hw.vcard.siths_card import SithsCardState, VirtualSithsCard
from hw.vcard.siths_pki import SithsHolder, SithsTestPki
from hw.vcard.vpcd import DEFAULT_PORT, VpcdLink
from kiosk.messages import explain

DEMO_PUK = "12345678"
INSERT_TIMEOUT = 15.0


def _say(text: str) -> None:
    print(text, flush=True)


def _new_pin(scripted: bool) -> str:
    if scripted or not sys.stdin.isatty():
        # A random PIN that passes every policy; it is never printed.
        while True:
            pin = "".join(secrets.choice("0123456789") for _ in range(6))
            if len(set(pin)) > 2:
                return pin
    while True:
        first = getpass.getpass("Choose a new PIN (6-8 digits): ")
        second = getpass.getpass("Type it again: ")
        if first != second:
            _say("The two PINs differ. Try again.")
        elif not (first.isdigit() and 6 <= len(first) <= 8):
            _say("The PIN must be 6 to 8 digits. Try again.")
        else:
            return first


def _wait_for_insert(events: queue.Queue[ReaderEvent], atr: bytes) -> str:
    while True:
        try:
            event = events.get(timeout=INSERT_TIMEOUT)
        except queue.Empty:
            raise TimeoutError("the virtual card did not appear in any reader") from None
        if event.kind is EventKind.CARD_INSERTED and event.atr == atr:
            return event.reader


def run(*, scripted: bool, port: int | None = None) -> int:
    """Run the demo; return the exit code."""
    try:
        with pcsc.pcsc_context() as context:
            readers = pcsc.list_readers(context)
    except CardError as error:
        _say(explain(error))
        return 3
    if not any("Virtual PCD" in r for r in readers):
        _say("No vpcd reader found. Install vsmartcard-vpcd and restart pcscd.")
        return 3
    events: queue.Queue[ReaderEvent] = queue.Queue()
    watcher = ReaderWatcher(events.put, poll_ms=500)
    watcher.start()
    _say("0. Making a test SITHS PKI and personalising a virtual SITHS card...")
    pki = SithsTestPki.generate()
    card = VirtualSithsCard(
        SithsCardState.issue(SithsHolder(), pki, puk=DEMO_PUK, identification_tries_left=0)
    )
    trust = TrustStore([pki.root], [pki.issuing])
    link = VpcdLink(card, port=port or DEFAULT_PORT)
    try:
        _say("1. Inserting the card; its identification PIN is blocked...")
        link.insert()
        reader = _wait_for_insert(events, card.atr)
        _say(f"   The reader watcher saw the card in {reader!r}.")
        with PcscConnection(reader) as connection:
            session = open_session(connection)
            if isinstance(session, SithsSession):
                info = session.card_info(trust)
                _say(
                    f"   Card {info.card_number}: {info.holder_name} ({info.hsa_id}), "
                    f"{info.organisation}, valid to {info.valid_to:%Y-%m-%d}."
                )
                verdict = (
                    ", ".join(p.value for p in info.problems) or "it chains to the trust anchors"
                )
                _say(f"   Certificates: {verdict}.")
            for status in session.pin_statuses():
                state = "BLOCKED" if status.blocked else f"{status.tries_left} tries left"
                _say(f"   {status.name}: {state}")
            _say(f"2. The holder's PUK letter says {DEMO_PUK}.")
            new_pin = _new_pin(scripted)
            pin_name = session.unblockable_pins()[0]
            with connection.transaction():
                session.unblock_pin(pin_name, DEMO_PUK, new_pin, safety_margin=1)
                session.verify(pin_name, new_pin)
                session.logout()
            after = session.pin_statuses()[0]
        _say(f"3. Unblocked: {after.name} has {after.tries_left} tries left; the new PIN verifies.")
        return 0 if not after.blocked else 1
    except (CardError, TimeoutError) as error:
        _say(f"The demo failed: {explain(error) if isinstance(error, CardError) else error}")
        return 1
    finally:
        link.remove()
        watcher.stop()
        _say("4. Card removed. Demo over.")
