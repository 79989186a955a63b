"""The fleet's side for the tests: an MQTT client with a fleet identity that sees everything.

It subscribes to every kiosk's topics and keeps each message (topic, payload,
retained flag) in arrival order; it can send commands; and it keeps every raw
byte it received, so a test can scan all that left a kiosk for secrets.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from protocol import telemetry as tm
from tests.harness.waiting import wait_for


@dataclass(frozen=True)
class Received:
    """One message as the fleet got it."""

    topic: str
    payload: bytes
    retained: bool

    @property
    def kiosk(self) -> str | None:
        parsed = tm.parse_topic(self.topic)
        return parsed[0] if parsed else None

    @property
    def channel(self) -> tm.Channel | None:
        parsed = tm.parse_topic(self.topic)
        return parsed[1] if parsed else None


def mqtt_client(
    client_id: str, port: int, ca: Path, cert: Path | None, key: Path | None
) -> mqtt.Client:
    """A connected MQTT 5 client over TLS (no certificate when ``cert`` is None)."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    context = ssl.create_default_context(cafile=str(ca))
    if cert is not None and key is not None:
        context.load_cert_chain(cert, key)
    client.tls_set_context(context)
    return client


class FleetListener:
    """Everything kiosks publish, as the fleet sees it."""

    def __init__(self, port: int, ca: Path, cert: Path, key: Path, name: str = "test-fleet"):
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = mqtt_client(name, port, ca, cert, key)
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *args: self._subscribed.set()
        # A lasting session: what arrives while the broker restarts is kept for the listener.
        session = Properties(PacketTypes.CONNECT)
        session.SessionExpiryInterval = 3600
        self.client.connect("127.0.0.1", port, clean_start=False, properties=session)
        self.client.loop_start()
        self.client.subscribe(f"{tm.ROOT}/#", qos=1)
        if not self._subscribed.wait(10):
            raise TimeoutError("the fleet listener could not subscribe")

    def _on_message(self, client: object, userdata: object, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.received.append(Received(message.topic, bytes(message.payload), message.retain))

    def stop(self) -> None:
        """Disconnect."""
        self.client.disconnect()
        self.client.loop_stop()

    def of(self, kiosk: str, channel: tm.Channel) -> list[Received]:
        """What one kiosk published on one channel, in arrival order."""
        with self._lock:
            return [m for m in self.received if m.kiosk == kiosk and m.channel is channel]

    def events(self, kiosk: str) -> list[tm.EventMessage]:
        """A kiosk's events, validated against the contract, in arrival order."""
        return [tm.decode(tm.EventMessage, m.payload) for m in self.of(kiosk, tm.Channel.EVENT)]

    def states(self, kiosk: str) -> list[tm.StateMessage]:
        """A kiosk's state messages (births, offline, lost), in arrival order."""
        return [tm.decode(tm.StateMessage, m.payload) for m in self.of(kiosk, tm.Channel.STATE)]

    def wait(self, condition: Callable[[], object], what: str, timeout: float = 20.0) -> object:
        """Wait for something to arrive."""
        return wait_for(condition, timeout=timeout, what=what)

    def command(self, kiosk: str, command: tm.Command, order: tm.CommandMessage) -> None:
        """Send a command to a kiosk (QoS 1) and wait until the broker took it."""
        info = self.client.publish(
            tm.topic(kiosk, tm.Channel.COMMAND, command), tm.encode(order), qos=1
        )
        info.wait_for_publish(10)

    def all_bytes(self) -> bytes:
        """Every payload received, joined (for scanning)."""
        with self._lock:
            return b"\n".join(m.topic.encode() + b" " + m.payload for m in self.received)
