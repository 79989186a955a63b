"""A kiosk's voice for fleet tests: contract messages (or broken ones) published with the
kiosk's own certificate through the real broker, as the kiosk program would send them.

The end-to-end tests use the real kiosk program (``kiosk run --headless``); this is for
tests that need exact messages: repeats, old incarnations, malformed payloads.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid

from protocol import telemetry as tm
from sim.dev_pki import DevPkiFiles
from tests.harness.fleet_listener import mqtt_client


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class KioskVoice:
    """One kiosk's MQTT connection; :meth:`send` waits until the broker took the message."""

    def __init__(self, kiosk: str, port: int, pki: DevPkiFiles) -> None:
        self.kiosk = kiosk
        self.incarnation = 1
        self.seq = 0
        self.commands: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        self.client = mqtt_client(
            kiosk, port, pki.service_ca, pki.kiosk_cert(kiosk), pki.kiosk_key(kiosk)
        )
        self.client.on_message = self._on_message
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *_: subscribed.set()
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self.client.subscribe(tm.topic(kiosk, tm.Channel.COMMAND) + "/+", qos=1)
        assert subscribed.wait(10)

    def _on_message(self, _client, _userdata, message) -> None:
        with self._lock:
            self.commands.append((message.topic, bytes(message.payload)))

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def raw(self, channel: tm.Channel, payload: bytes, *, retain: bool = False) -> None:
        info = self.client.publish(tm.topic(self.kiosk, channel), payload, qos=1, retain=retain)
        info.wait_for_publish(10)

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def birth(self, state: str = "online", **fields) -> tm.StateMessage:
        message = tm.StateMessage(
            kiosk=self.kiosk,
            state=state,
            incarnation=fields.pop("incarnation", self.incarnation),
            at=fields.pop("at", now()),
            site=fields.pop("site", "Testsjukhuset"),
            location=fields.pop("location", f"Entré {self.kiosk[-1]}"),
            software="0.1.0",
            health_interval=fields.pop("health_interval", 5.0),
            **fields,
        )
        self.raw(tm.Channel.STATE, tm.encode(message), retain=True)
        return message

    def health(self, **fields) -> tm.HealthMessage:
        values = {
            "uptime_s": 100.0,
            "reader_present": True,
            "card_service_up": True,
            "outbox_depth": 0,
            "cpu_temperature_c": 48.5,
            "clock_synchronised": True,
            "certificate_days_left": 300,
        }
        values.update(fields)
        message = tm.HealthMessage(
            kiosk=self.kiosk, incarnation=self.incarnation, seq=self.next_seq(), at=now(), **values
        )
        self.raw(tm.Channel.HEALTH, tm.encode(message))
        return message

    def event(self, kind: str, **fields) -> tm.EventMessage:
        message = tm.EventMessage(
            id=fields.pop("id", str(uuid.uuid4())),
            kiosk=self.kiosk,
            incarnation=fields.pop("incarnation", self.incarnation),
            seq=fields.pop("seq", None) or self.next_seq(),
            at=fields.pop("at", now()),
            kind=kind,
            **fields,
        )
        self.raw(tm.Channel.EVENT, tm.encode(message))
        return message

    def resend(self, message: tm.EventMessage) -> None:
        """The same event again (a PUBACK was lost)."""
        self.raw(tm.Channel.EVENT, tm.encode(message))

    def received_commands(self) -> list[tuple[str, tm.CommandMessage]]:
        with self._lock:
            return [
                (t.rsplit("/", 1)[-1], tm.decode(tm.CommandMessage, p)) for t, p in self.commands
            ]
