"""The kiosk's MQTT 5 connection to the broker: birth, will, the outbox drained in order.

paho-mqtt 2 (``CallbackAPIVersion.VERSION2``) over TLS with the device certificate.
One supervisor thread owns the connection: it connects (a fresh paho client each
time, with paho's own reconnecting off, so nothing is re-sent behind the outbox's
back and no connection goes unnoticed), publishes the retained birth, subscribes to
the kiosk's command topic, then publishes queued messages oldest first with a
bounded window in flight. A message leaves the outbox only when the broker's PUBACK
says it took it; after a disconnect everything not acknowledged is sent again from
the outbox, in order, so the fleet sees every message at least once and drops
repeats by id.

The session is a lasting one (clean start off, a day's expiry): commands queued for
the kiosk while it was away are delivered when it is back, and a quick reconnect
neither flaps the kiosk to lost nor ends its session. The will (``state: lost``),
built afresh for each connection, has an MQTT 5 Will Delay. A stop publishes
``state: offline`` before a normal disconnect (which drops the will), also when the
stop comes while a connection is being made.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from kiosk.outbox import Entry, Outbox, OutboxError
from protocol import telemetry as tm

log = logging.getLogger(__name__)

CommandHandler = Callable[[tm.Command, bytes], None]
#: How long the broker keeps the kiosk's session (and commands for it) while it is away.
SESSION_EXPIRY = 24 * 3600
#: The longest wait between attempts to connect.
MAX_RETRY_DELAY = 60.0


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
        will: Callable[[], tm.StateMessage],
        on_command: CommandHandler,
        heartbeat: Callable[[], None] = lambda: None,
    ) -> None:
        self.settings = settings
        #: Called at least every second while the supervisor thread turns (the watchdog's).
        self.heartbeat = heartbeat
        self.outbox = outbox
        self.birth = birth
        self.will = will
        self.on_command = on_command
        self.connected = threading.Event()
        self.refused = 0  # messages the broker would not take (its ACL): counted, reported
        self.last_error: str | None = None
        self.said_offline = False
        self._stop = threading.Event()
        self._offline: tm.StateMessage | None = None
        self._wake = threading.Condition()
        self._inflight: dict[int, int] = {}  # paho mid -> outbox seq
        self._untracked: set[int] = set()  # mids of the birth, offline, live errors
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
        return self._publish_untracked(client, self._topic(channel), payload) is not None

    def stop(self, offline: tm.StateMessage | None, timeout: float = 5.0) -> bool:
        """Stop; with ``offline``, say so (retained) first. Whether the broker took it."""
        with self._wake:
            self._offline = offline
            self._stop.set()
            self._wake.notify_all()
        if self._thread is not None:
            self._thread.join(timeout + self.settings.keepalive)
        return self.said_offline

    # -- the connection ----------------------------------------------------------------

    @property
    def _state_topic(self) -> str:
        return tm.topic(self.settings.kiosk_id, tm.Channel.STATE)

    def _topic(self, kind: str) -> str:
        return tm.topic(self.settings.kiosk_id, tm.Channel(kind))

    def _new_client(self) -> mqtt.Client:
        settings = self.settings
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=settings.kiosk_id,
            protocol=mqtt.MQTTv5,
            reconnect_on_failure=False,  # the supervisor reconnects, and knows it did
        )
        context = ssl.create_default_context(cafile=str(settings.ca_file))
        context.load_cert_chain(settings.client_cert, settings.client_key)
        client.tls_set_context(context)
        client.max_inflight_messages_set(settings.window)  # ours, not paho's default of 20
        will = Properties(PacketTypes.WILLMESSAGE)
        will.WillDelayInterval = settings.will_delay
        client.will_set(
            self._state_topic, tm.encode(self.will()), qos=1, retain=True, properties=will
        )
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        return client

    def _supervise(self) -> None:
        failures = 0
        while not self._stop.is_set():
            self.heartbeat()
            served = False
            try:
                client = self._new_client()
                self._client = client
                session = Properties(PacketTypes.CONNECT)
                session.SessionExpiryInterval = SESSION_EXPIRY
                self._connack.clear()
                client.connect(
                    self.settings.host,
                    self.settings.port,
                    keepalive=self.settings.keepalive,
                    clean_start=False,
                    properties=session,
                )
            except (OSError, ssl.SSLError, ValueError) as error:
                self._note(f"cannot connect to the broker: {error}")
            else:
                client.loop_start()
                try:
                    served = self._serve(client)
                finally:
                    self._leave(client)
            failures = 0 if served else failures + 1
            if not self._stop.is_set():
                delay = min(MAX_RETRY_DELAY, self.settings.retry_delay * 2 ** min(failures, 6))
                self._beating_wait(self._stop, delay)

    def _beating_wait(self, event: threading.Event, seconds: float) -> bool:
        """``event.wait(seconds)`` in slices of a second, beating between them."""
        deadline = time.monotonic() + seconds
        while not event.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            event.wait(min(1.0, left))
            self.heartbeat()
        return True

    def _leave(self, client: mqtt.Client) -> None:
        """Say offline if stopping (and connected), then disconnect normally: no will."""
        if self._stop.is_set() and self._offline is not None and self.connected.is_set():
            mid = self._publish_untracked(
                client, self._state_topic, tm.encode(self._offline), retain=True
            )
            self.said_offline = mid is not None and self._wait_for_ack(mid, 5.0)
        client.disconnect()
        client.loop_stop()
        self.connected.clear()
        self._forget_acknowledged()
        with self._wake:
            self._inflight.clear()
            self._untracked.clear()
            self._early.clear()

    def _wait_for_ack(self, mid: int, timeout: float) -> bool:
        with self._wake:
            return (
                self._wake.wait_for(
                    lambda: mid not in self._untracked or not self.connected.is_set(), timeout
                )
                and mid not in self._untracked
            )

    def _note(self, error: str) -> None:
        if error != self.last_error:
            log.warning("telemetry: %s", error)
        self.last_error = error

    def _serve(self, client: mqtt.Client) -> bool:
        """While connected: the birth, then the outbox in order; whether it connected."""
        self._beating_wait(self._connack, self.settings.keepalive)
        if not self.connected.is_set():
            return False
        self.last_error = None
        if self._stop.is_set():
            return True  # stopped while connecting: _leave says offline
        client.subscribe(tm.topic(self.settings.kiosk_id, tm.Channel.COMMAND) + "/+", qos=1)
        self._publish_birth(client)
        sent = 0  # the last outbox seq handed to paho on this connection
        while self.connected.is_set() and not self._stop.is_set():
            self.heartbeat()
            with self._wake:
                if self._rebirth:
                    self._rebirth = False
                    self._publish_birth(client)
                room = self.settings.window - len(self._inflight)
            if len(self._acked) >= self.settings.window // 2 or room <= 0:
                self._forget_acknowledged()  # in batches: one disk write for many
            batch = self._next(sent, room) if room > 0 else []
            for entry in batch:
                if not self._publish_entry(client, entry):
                    break  # the connection went: the rest goes after the reconnect
                sent = entry.seq
            if not batch:
                self._forget_acknowledged()
                with self._wake:
                    if not self._acked and not self._rebirth:
                        self._wake.wait(1.0)
        return True

    def _publish_entry(self, client: mqtt.Client, entry: Entry) -> bool:
        # Not under our lock: paho calls on_publish under its own, which publish takes.
        info = client.publish(self._topic(entry.kind), entry.payload, qos=1)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            return False
        with self._wake:
            early = self._early.pop(info.mid, None)
            if early is None:
                self._inflight[info.mid] = entry.seq
        if early is not None:
            self._acknowledged(entry.seq, early)
        return True

    def _publish_untracked(
        self, client: mqtt.Client, topic: str, payload: bytes, *, retain: bool = False
    ) -> int | None:
        """A message not from the outbox; its acknowledgement is never taken for one."""
        info = client.publish(topic, payload, qos=1, retain=retain)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            return None
        with self._wake:
            if self._early.pop(info.mid, None) is None:
                self._untracked.add(info.mid)
            self._wake.notify_all()
        return info.mid

    def _publish_birth(self, client: mqtt.Client) -> None:
        self._publish_untracked(client, self._state_topic, tm.encode(self.birth()), retain=True)

    def _next(self, after: int, room: int) -> list[Entry]:
        try:
            return self.outbox.after(after, room)
        except OutboxError as error:
            self._note(str(error))
            return []

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
        self._connack.set()
        if not self._stop.is_set() and self.last_error is None:
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
            if mid in self._untracked:
                self._untracked.discard(mid)
                self._wake.notify_all()
                return
            seq = self._inflight.pop(mid, None)
            if seq is None and len(self._early) < 4 * self.settings.window:
                self._early[mid] = reason  # claimed by the publisher a moment later
            self._wake.notify_all()
        if seq is not None:
            self._acknowledged(seq, reason)

    def _acknowledged(self, seq: int, reason: ReasonCode) -> None:
        """The broker answered for outbox message ``seq``: it leaves the outbox (soon)."""
        if reason.is_failure:
            # The broker will never take it (its ACL): keeping it would stop the queue.
            # Counted, and reported in every health sample, so the loss is never silent.
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
