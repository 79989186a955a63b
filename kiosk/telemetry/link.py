"""The kiosk's MQTT 5 connection to the broker: birth, will, the outbox drained in order.

paho-mqtt 2 (``CallbackAPIVersion.VERSION2``) over TLS with the device certificate.
One supervisor thread owns the connection: it connects (a fresh paho client each
time, so nothing is re-sent behind the outbox's back), publishes the retained
birth, subscribes to the kiosk's command topic, then publishes queued messages
oldest first with a bounded window in flight. A message leaves the outbox only
when the broker's PUBACK says it was accepted; after a disconnect everything not
acknowledged is sent again from the outbox, in order, so the fleet sees every
message at least once and drops repeats by id.

The will (``state: lost``) has an MQTT 5 Will Delay, and the session outlives it,
so a quick reconnect does not flap the kiosk to lost; a clean stop publishes
``state: offline`` and disconnects normally (no will).
"""

from __future__ import annotations

import logging
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from kiosk.outbox import Outbox, OutboxError
from protocol import telemetry as tm

log = logging.getLogger(__name__)

CommandHandler = Callable[[tm.Command, bytes], None]


@dataclass(frozen=True)
class LinkSettings:
    """Where the broker is and who the kiosk is to it."""

    kiosk_id: str
    host: str
    port: int
    ca_file: Path
    client_cert: Path
    client_key: Path
    will_delay: int = tm.DEFAULT_WILL_DELAY
    keepalive: int = 30
    window: int = 200
    retry_delay: float = 2.0


class TelemetryLink:
    """Keeps the connection, publishes the birth, drains the outbox, takes commands."""

    def __init__(
        self,
        settings: LinkSettings,
        outbox: Outbox,
        birth: Callable[[], tm.StateMessage],
        will: tm.StateMessage,
        on_command: CommandHandler,
    ) -> None:
        self.settings = settings
        self.outbox = outbox
        self.birth = birth
        self.will = will
        self.on_command = on_command
        self.connected = threading.Event()
        self.refused = 0  # messages the broker would not take (its ACL): counted, logged
        self.last_error: str | None = None
        self._stop = threading.Event()
        self._wake = threading.Condition()
        self._inflight: dict[int, int] = {}  # paho mid -> outbox seq
        self._early: dict[int, ReasonCode] = {}  # PUBACKs that beat the bookkeeping
        self._acked: list[int] = []  # outbox seqs the broker took, to forget in one go
        self._connack = threading.Event()
        self._rebirth = False
        self._thread: threading.Thread | None = None
        self._client: mqtt.Client | None = None

    # -- the outside -------------------------------------------------------------------

    def start(self) -> TelemetryLink:
        """Connect in the background (retrying until :meth:`stop`)."""
        self._thread = threading.Thread(target=self._supervise, name="telemetry-link", daemon=True)
        self._thread.start()
        return self

    def nudge(self) -> None:
        """New messages are in the outbox: send them now."""
        with self._wake:
            self._wake.notify_all()

    def rebirth(self) -> None:
        """Publish the birth again (the fleet asked, or the kiosk's state changed)."""
        with self._wake:
            self._rebirth = True
            self._wake.notify_all()

    def publish_now(self, channel: tm.Channel, payload: bytes) -> bool:
        """Publish past the outbox (it is broken): at most once, only while connected."""
        client = self._client
        if client is None or not self.connected.is_set():
            return False
        info = client.publish(self._topic(channel), payload, qos=1)
        return info.rc == mqtt.MQTT_ERR_SUCCESS

    def stop(self, offline: tm.StateMessage | None, timeout: float = 5.0) -> bool:
        """Stop; with ``offline``, say so (retained) first. Whether the broker took it."""
        said = False
        client = self._client
        if offline is not None and client is not None and self.connected.is_set():
            info = client.publish(self._state_topic, tm.encode(offline), qos=1, retain=True)
            try:
                info.wait_for_publish(timeout)
                said = info.is_published()
            except (RuntimeError, ValueError):
                said = False
        self._stop.set()
        self.nudge()
        if client is not None:
            client.disconnect()  # a normal disconnect: the broker drops the will
        if self._thread is not None:
            self._thread.join(timeout)
        return said

    # -- the connection ----------------------------------------------------------------

    @property
    def _state_topic(self) -> str:
        return tm.topic(self.settings.kiosk_id, tm.Channel.STATE)

    def _new_client(self) -> mqtt.Client:
        settings = self.settings
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=settings.kiosk_id, protocol=mqtt.MQTTv5
        )
        context = ssl.create_default_context(cafile=str(settings.ca_file))
        context.load_cert_chain(settings.client_cert, settings.client_key)
        client.tls_set_context(context)
        client.max_inflight_messages_set(settings.window)  # ours, not paho's default of 20
        will = Properties(PacketTypes.WILLMESSAGE)
        will.WillDelayInterval = settings.will_delay
        client.will_set(
            self._state_topic, tm.encode(self.will), qos=1, retain=True, properties=will
        )
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        return client

    def _supervise(self) -> None:
        while not self._stop.is_set():
            try:
                client = self._new_client()
                self._client = client
                session = Properties(PacketTypes.CONNECT)
                # The session outlives the will delay, so the delay is honoured.
                session.SessionExpiryInterval = self.settings.will_delay + 60
                client.connect(
                    self.settings.host,
                    self.settings.port,
                    keepalive=self.settings.keepalive,
                    clean_start=True,
                    properties=session,
                )
            except (OSError, ssl.SSLError, ValueError) as error:
                self._note(f"cannot connect to the broker: {error}")
                self._stop.wait(self.settings.retry_delay)
                continue
            self._connack.clear()
            client.loop_start()
            try:
                self._serve(client)
            finally:
                client.loop_stop()
                self.connected.clear()
            if not self._stop.is_set():
                self._stop.wait(self.settings.retry_delay)

    def _note(self, error: str) -> None:
        if error != self.last_error:
            log.warning("telemetry: %s", error)
        self.last_error = error

    def _serve(self, client: mqtt.Client) -> None:
        """While connected: the birth, then the outbox in order, a window at a time."""
        self._connack.wait(self.settings.keepalive)
        if not self.connected.is_set() or self._stop.is_set():
            client.disconnect()
            return
        self.last_error = None
        client.subscribe(tm.topic(self.settings.kiosk_id, tm.Channel.COMMAND) + "/+", qos=1)
        self._publish_birth(client)
        sent = 0  # the last outbox seq handed to paho on this connection
        while self.connected.is_set() and not self._stop.is_set():
            with self._wake:
                if self._rebirth:
                    self._rebirth = False
                    self._publish_birth(client)
                room = self.settings.window - len(self._inflight)
            if len(self._acked) >= self.settings.window // 2 or room <= 0:
                self._forget_acknowledged()  # in batches: one disk write for many
            batch = self._next(sent, room) if room > 0 else []
            for entry in batch:
                # Not under our lock: paho calls on_publish under its own, which publish takes.
                info = client.publish(self._topic(entry.kind), entry.payload, qos=1)
                if info.rc != mqtt.MQTT_ERR_SUCCESS:
                    break  # the connection went: the rest goes after the reconnect
                with self._wake:
                    early = self._early.pop(info.mid, None)
                    if early is None:
                        self._inflight[info.mid] = entry.seq
                if early is not None:
                    self._acknowledged(entry.seq, early)
                    self.nudge()
                sent = entry.seq
            if not batch:
                self._forget_acknowledged()
                with self._wake:
                    if not self._acked:
                        self._wake.wait(1.0)
        self._forget_acknowledged()
        with self._wake:
            self._inflight.clear()
            self._early.clear()

    def _next(self, after: int, room: int) -> list:
        try:
            return self.outbox.after(after, room)
        except OutboxError as error:
            self._note(str(error))
            return []

    def _topic(self, kind: str) -> str:
        return tm.topic(self.settings.kiosk_id, tm.Channel(kind))

    def _publish_birth(self, client: mqtt.Client) -> None:
        client.publish(self._state_topic, tm.encode(self.birth()), qos=1, retain=True)

    # -- paho's callbacks (its network thread) -----------------------------------------

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: object,
        reason: ReasonCode,
        properties: object,
    ) -> None:
        if reason.is_failure:
            self._note(f"the broker refused the connection: {reason}")
        else:
            self.connected.set()
        self._connack.set()

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: object,
        reason: ReasonCode,
        properties: object,
    ) -> None:
        self.connected.clear()
        if not self._stop.is_set():
            self._note(f"disconnected from the broker: {reason}")
        self.nudge()

    def _on_publish(
        self,
        client: mqtt.Client,
        userdata: object,
        mid: int,
        reason: ReasonCode,
        properties: object,
    ) -> None:
        with self._wake:
            seq = self._inflight.pop(mid, None)
            if seq is None and len(self._early) < 4 * self.settings.window:
                self._early[mid] = reason  # or the birth's: forgotten with the connection
            self._wake.notify_all()
        if seq is not None:
            self._acknowledged(seq, reason)

    def _acknowledged(self, seq: int, reason: ReasonCode) -> None:
        """The broker answered for outbox message ``seq``: it leaves the outbox (soon)."""
        if reason.is_failure:
            # The broker will never take it (its ACL): keeping it would stop the queue.
            self.refused += 1
            log.error("telemetry: the broker refused message %d: %s", seq, reason)
        with self._wake:
            self._acked.append(seq)

    def _forget_acknowledged(self) -> None:
        """Delete what the broker took, in one transaction (a lost delete only repeats it)."""
        with self._wake:
            done, self._acked = self._acked, []
        try:
            self.outbox.ack_many(done)
        except OutboxError as error:
            self._note(str(error))  # sent again later; the fleet drops the repeat by id

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        parsed = tm.parse_topic(message.topic)
        if parsed is None or parsed[0] != self.settings.kiosk_id or parsed[2] is None:
            return
        try:
            self.on_command(parsed[2], message.payload)
        except Exception:
            log.exception("telemetry: the %s command failed", parsed[2])
