"""The holder's e-mails leave the outbox without holding up the kiosks, once each.

On SQLite and on PostgreSQL: a mail server that takes its time to answer the closing
dot holds no database lock (the kiosks' unlocks go on writing), and no second worker
sends the message meanwhile; a message whose reply was lost is unknown, so it is sent
again, but only when its worker's claim lapses.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from cardservice.mailer import Mailer, SmtpSettings
from cardservice.store import Store
from tests.harness.smtp_sink import SmtpSink

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
