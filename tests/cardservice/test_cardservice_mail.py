"""The holder's e-mails leave the outbox without holding up the kiosks, once each.

On SQLite and on PostgreSQL: a mail server that takes its time to answer the closing
dot holds no database lock (the kiosks' unlocks go on writing), and no second worker
sends the message meanwhile; a message whose reply was lost is unknown, so it is sent
again, but only when its worker's claim lapses.
"""

from __future__ import annotations

import smtplib
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from cardservice.mailer import Mailer, SmtpSettings, sendable_address
from cardservice.store import Store
from tests.harness.smtp_sink import SmtpSink, free_port
from tests.harness.waiting import wait_for

HOLDER = "holder@example.org"


class HeldSink(SmtpSink):
    """An SMTP server that has the whole message but answers only when released."""

    def __init__(self) -> None:
        super().__init__()
        self.reached = threading.Event()
        self.release = threading.Event()

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        import asyncio

        self.reached.set()
        await asyncio.to_thread(self.release.wait, 30)
        return await super().handle_DATA(server, session, envelope)


class ReplyLostSink(SmtpSink):
    """An SMTP server whose first "250" never arrives: the connection drops after the dot."""

    def __init__(self) -> None:
        super().__init__()
        self.dropped = 0

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        if self.dropped == 0:
            self.dropped += 1
            server.transport.close()  # type: ignore[attr-defined]
            return "421 gone"
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def store(tmp_path, database_url) -> Iterator[Store]:
    """An outbox with one message, on SQLite and then on PostgreSQL."""
    opened = Store(database_url or tmp_path / "cardservice.sqlite3")
    opened.queue_mail(0.0, "<m1@example.org>", HOLDER, "Ditt kort / Your card", "body")
    yield opened
    opened.close()


@pytest.fixture
def held_sink() -> Iterator[HeldSink]:
    sink = HeldSink().start()
    yield sink
    sink.release.set()
    sink.stop()


def settings(port: int) -> SmtpSettings:
    return SmtpSettings("127.0.0.1", port, "kiosk@example.org", timeout=10)


def test_a_slow_mail_server_holds_up_no_unlock_and_no_second_worker_sends(store, held_sink):
    first = Mailer(store, settings(held_sink.port))
    sending = threading.Thread(target=first.flush)
    sending.start()
    assert held_sink.reached.wait(10), "the mail server never got the message"

    # The server sits on its answer; a kiosk's write (here: registering one) goes through.
    writer = threading.Thread(target=store.add_kiosk, args=("kiosk-2", "Entré B"))
    writer.start()
    writer.join(10)
    assert not writer.is_alive(), "a write waited for the mail server"
    assert store.kiosk("kiosk-2") is not None

    # Another instance's mailer looks into the outbox meanwhile: the message is taken.
    assert Mailer(store, settings(held_sink.port)).flush() is True
    assert held_sink.messages == []

    held_sink.release.set()
    sending.join(20)
    assert [m["Message-ID"] for m in held_sink.messages] == ["<m1@example.org>"]
    assert store.unsent_mail() == []


def test_a_message_whose_reply_was_lost_is_sent_again_when_the_claim_lapses(store):
    sink = ReplyLostSink().start()
    now = [1000.0]
    mailer = Mailer(store, settings(sink.port), clock=lambda: now[0])
    try:
        assert mailer.flush() is False  # the reply never came: unknown whether it went
        assert len(store.unsent_mail()) == 1
        assert mailer.flush() is True  # still claimed by the attempt whose reply was lost
        assert sink.messages == []
        now[0] += mailer.lease() + 1
        assert mailer.flush() is True
        assert [m["To"] for m in sink.wait_for(1)] == [HOLDER]
        assert store.unsent_mail() == []
    finally:
        sink.stop()


class LateRcptSink(SmtpSink):
    """An SMTP server so slow to take the recipient that the worker's claim lapses meanwhile.

    While it sits on its answer, ``meanwhile`` runs (the clock moves on, another worker
    takes the message); then it takes the recipient and the message.
    """

    def __init__(self, meanwhile: Callable[[], None]) -> None:
        super().__init__()
        self.meanwhile = meanwhile

    async def handle_RCPT(
        self, server: object, session: object, envelope: Any, address: str, options: list
    ) -> str:
        import asyncio

        await asyncio.to_thread(self.meanwhile)
        envelope.rcpt_tos.append(address)
        return "250 OK"


def test_a_worker_whose_claim_lapsed_leaves_the_next_workers_claim_alone(store, held_sink):
    now = [1000.0]
    retry_soon = {"retry_interval": 1.0, "clock": lambda: now[0]}
    late = Mailer(store, settings(0), **retry_soon)  # its port is set below
    taken_over = threading.Thread(
        target=Mailer(store, settings(held_sink.port), **retry_soon).flush
    )

    def the_claim_lapses_and_another_worker_takes_the_message() -> None:
        now[0] += late.lease() + 1
        taken_over.start()
        assert held_sink.reached.wait(10), "the second worker never sent the message"

    slow_sink = LateRcptSink(the_claim_lapses_and_another_worker_takes_the_message).start()
    third_sink = SmtpSink().start()
    try:
        late.smtp = settings(slow_sink.port)
        assert late.flush() is False  # too late for the dot: it gives the message up
        assert slow_sink.messages == []

        # The second worker still has the message in hand: nobody else may take it.
        now[0] += 2
        Mailer(store, settings(third_sink.port), **retry_soon).flush()
        assert third_sink.messages == [], "a third worker sent a message the second one held"

        held_sink.release.set()
        taken_over.join(20)
        assert [m["Message-ID"] for m in held_sink.messages] == ["<m1@example.org>"]
        assert store.unsent_mail() == []
    finally:
        held_sink.release.set()
        slow_sink.stop()
        third_sink.stop()


def test_an_address_the_mail_server_cannot_be_given_stops_no_other_message(tmp_path, smtp_sink):
    store = Store(tmp_path / "cardservice.sqlite3")
    store.queue_mail(0.0, "<m1@example.org>", "åsa@exempel.se", "Ditt kort", "body")
    store.queue_mail(0.0, "<m2@example.org>", HOLDER, "Ditt kort", "body")
    smtp_sink.clear()
    mailer = Mailer(store, settings(smtp_sink.port), poll_interval=0.05).start()
    try:
        assert [m["To"] for m in smtp_sink.wait_for(1)] == [HOLDER]

        # The message to an address smtplib cannot send to is kept for a retry, not lost.
        def only_the_failed_one_left() -> list:
            unsent = store.unsent_mail()
            return unsent if unsent and all(m.attempts for m in unsent) else []

        (unsent,) = wait_for(only_the_failed_one_left, what="the other message recorded as sent")
        assert unsent.recipient == "åsa@exempel.se"

        # The worker goes on: a message queued later is sent.
        store.queue_mail(0.0, "<m3@example.org>", HOLDER, "Ditt kort", "body")
        mailer.wake()
        assert [m["Message-ID"] for m in smtp_sink.wait_for(2)][1] == "<m3@example.org>"
    finally:
        mailer.stop()
        store.close()


def test_a_mail_server_that_is_down_is_tried_once_a_retry_interval(store, caplog):
    # New mail wakes the worker at once; a server found down must not be hammered for it.
    now = [1000.0]
    down = Mailer(store, settings(free_port()), retry_interval=30, clock=lambda: now[0])
    with caplog.at_level("WARNING", logger="cardservice.mailer"):
        for _ in range(5):
            assert down.flush() is False
            now[0] += 1
        assert caplog.text.count("unavailable") == 1
        assert "1 message(s) wait; next try in 30 s" in caplog.text
        now[0] += 30
        assert down.flush() is False
        assert caplog.text.count("unavailable") == 2
    assert len(store.unsent_mail()) == 1  # kept for when the server is back


#: As facility IT types them for Swedish healthcare staff: all must be taken.
COMMON_ADDRESSES = [
    "fornamn.efternamn@vgregion.se",
    "anna.andersson+kiosk@regionstockholm.se",
    "bo-1.berg@lab.sahlgrenska.vgregion.se",
    "eva_k2@region-halland.se",
    "ANNA.ANDERSSON@REGIONSKANE.SE",
    "o'neil@ki.se",
]
#: Typing slips: no SMTP server takes them as written (RFC 5321), this one says 553.
SLIPS = [
    "fornamn.efternamn@vgregion..se",
    "fornamn.efternamn@.vgregion.se",
    "fornamn.efternamn@vgregion.se.",
    "fornamn..efternamn@vgregion.se",
    ".efternamn@vgregion.se",
    "fornamn.@vgregion.se",
    "fornamn@-vgregion.se",
    "fornamn@vgregion_se.se",
    "f" * 65 + "@vgregion.se",
]


def test_add_card_takes_common_addresses_and_refuses_slips_a_mail_server_refuses(smtp_sink):
    assert [a for a in COMMON_ADDRESSES if not sendable_address(a)] == []
    assert [a for a in SLIPS if sendable_address(a)] == []
    with smtplib.SMTP("127.0.0.1", smtp_sink.port, timeout=10) as smtp:
        smtp.ehlo()
        smtp.mail("kiosk@example.org")
        assert {a: smtp.rcpt(a)[0] for a in COMMON_ADDRESSES} == dict.fromkeys(
            COMMON_ADDRESSES, 250
        )
        assert smtp.rcpt(SLIPS[0])[0] == 553  # what the old check let through
