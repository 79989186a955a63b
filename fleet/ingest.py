"""Reading telemetry from the broker: MQTT 5 shared subscriptions, stored in batches.

paho-mqtt 2 (``CallbackAPIVersion.VERSION2``) over TLS with the fleet's client
certificate (common name ``fleet:<name>``, which the broker's ACL lets read every
kiosk's topics and write commands). Events and health come through the shared
subscriptions ``$share/<group>/siths-kiosk/v1/+/event`` and ``.../health``, so the
instances of one group split them; every instance also reads the retained states
with a plain subscription (they are few and each instance's judgement needs them).

Messages are acknowledged by hand (``manual_ack``) in arrival order, only after the
batch holding them is committed, so an instance that dies mid-batch leaves its
messages with the broker for redelivery, and the database drops any repeat by id.
A message that breaks the contract is counted, logged and acknowledged (it will not
get better), and never stops the rest.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
from cryptography import x509
from cryptography.x509.oid import NameOID
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from sqlalchemy.exc import SQLAlchemyError

from fleet.metrics import Metrics
from fleet.reading import Reading, Rejected, read
from fleet.store import Store, Stored
from protocol import telemetry as tm

log = logging.getLogger(__name__)


def certificate_name(path: Path) -> str:
    """The common name of a PEM certificate (the fleet's identity to the broker)."""
    certificate = x509.load_pem_x509_certificate(path.read_bytes())
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else ""


@dataclass(frozen=True)
class BrokerSettings:
    """Where the broker is, who the fleet is to it, and which group it shares load in."""

    host: str
    port: int
    ca_file: Path
    client_cert: Path
    client_key: Path
    #: This instance's name: its MQTT client id is ``<certificate name>@<instance>``.
    instance: str = "1"
    group: str = "fleet"
    keepalive: int = 30
    #: Seconds the broker keeps this instance's session (and its messages) while it is away.
    session_expiry: int = 3600
    #: Most unacknowledged messages the broker may send at once.
    receive_maximum: int = 2000
    batch_max: int = 1000


class _RateLimited:
    """Log a kind of problem at once, then at most every ``every`` seconds with a count."""

    def __init__(self, every: float = 10.0) -> None:
        self.every = every
        self._last: dict[str, float] = {}
        self._quiet: dict[str, int] = {}

    def warn(self, key: str, text: str) -> None:
        now = time.monotonic()
        if now - self._last.get(key, -self.every) >= self.every:
            quiet = self._quiet.pop(key, 0)
            more = f" ({quiet} more like it not logged)" if quiet else ""
            log.warning("%s%s", text, more)
            self._last[key] = now
        else:
            self._quiet[key] = self._quiet.get(key, 0) + 1


Item = tuple[Reading | Rejected, bytes, int]  # what was read, its payload, paho's mid


class Ingest:
    """One instance's subscriber and its database writer."""

    def __init__(
        self,
        settings: BrokerSettings,
        store: Store,
        metrics: Metrics,
        on_stored: Callable[[], None] | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.metrics = metrics
        self.on_stored = on_stored
        self.identity = certificate_name(settings.client_cert)
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self._queue: queue.Queue[Item] = queue.Queue()
        self._stop = threading.Event()
        self._closing = False
        self._writer: threading.Thread | None = None
        self._warn = _RateLimited()
        self.client = self._new_client()

    def _new_client(self) -> mqtt.Client:
        s = self.settings
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"{self.identity}@{s.instance}",
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        context = ssl.create_default_context(cafile=str(s.ca_file))
        context.load_cert_chain(s.client_cert, s.client_key)
        client.tls_set_context(context)
        client.max_inflight_messages_set(100)  # our commands
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = lambda *_args: self.subscribed.set()
        client.reconnect_delay_set(1, 30)
        return client

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> Ingest:
        """Start the writer, then connect (and keep reconnecting) in the background."""
        self._writer = threading.Thread(target=self._write_loop, name="fleet-ingest", daemon=True)
        self._writer.start()
        session = Properties(PacketTypes.CONNECT)
        session.SessionExpiryInterval = self.settings.session_expiry
        session.ReceiveMaximum = self.settings.receive_maximum
        self.client.connect_async(
            self.settings.host,
            self.settings.port,
            keepalive=self.settings.keepalive,
            clean_start=False,
            properties=session,
        )
        self.client.loop_start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Disconnect, and store what was already received (unacknowledged otherwise)."""
        self._closing = True
        self.client.disconnect()
        self.client.loop_stop()
        self._stop.set()
        if self._writer is not None:
            self._writer.join(timeout)

    def wait_ready(self, timeout: float = 15.0) -> bool:
        """Whether it connected and subscribed within ``timeout`` seconds."""
        return self.subscribed.wait(timeout)

    # -- commands ------------------------------------------------------------------------

    def command(self, kiosk: str, command: tm.Command, order: tm.CommandMessage) -> bool:
        """Publish a command (QoS 1); whether the broker took it within a few seconds."""
        if not self.connected.is_set():
            return False
        info = self.client.publish(
            tm.topic(kiosk, tm.Channel.COMMAND, command), tm.encode(order), qos=1
        )
        try:
            info.wait_for_publish(5)
        except (RuntimeError, ValueError):
            return False
        if info.is_published():
            self.metrics.commands.labels(str(command)).inc()
        return info.is_published()

    # -- paho's thread -------------------------------------------------------------------

    def _on_connect(
        self, client: mqtt.Client, _u: object, _f: object, reason: ReasonCode, _p: object
    ) -> None:
        if reason.is_failure:
            self._warn.warn("connect", f"the broker refused the connection: {reason}")
            return
        self.connected.set()
        group, root = self.settings.group, tm.ROOT
        client.subscribe(
            [
                (f"$share/{group}/{root}/+/{tm.Channel.EVENT}", 1),
                (f"$share/{group}/{root}/+/{tm.Channel.HEALTH}", 1),
                (f"{root}/+/{tm.Channel.STATE}", 1),
            ]
        )
        log.info("connected to the broker as %s", client._client_id.decode())

    def _on_disconnect(
        self, _c: object, _u: object, _f: object, reason: ReasonCode, _p: object
    ) -> None:
        self.connected.clear()
        if not self._closing:
            self._warn.warn("disconnect", f"disconnected from the broker: {reason}")

    def _on_message(self, _c: object, _u: object, message: mqtt.MQTTMessage) -> None:
        payload = bytes(message.payload)
        result = read(message.topic, payload, time.time())
        self._queue.put((result, payload, message.mid if message.qos else 0))

    # -- the writer ----------------------------------------------------------------------

    def _one_by_one(self, valid: list[tuple[Reading, bytes]]) -> Stored:
        """Store each message alone; one that still fails is counted, logged and dropped."""
        parts = []
        for reading, payload in valid:
            try:
                parts.append(self.store.ingest([(reading, payload)]))
            except SQLAlchemyError:
                raise
            except Exception as error:
                self.metrics.rejected.labels("unstorable").inc()
                log.error(
                    "dropped a message from %s that cannot be stored: %r", reading.kiosk, error
                )
        return _sum(parts)

    def _take(self) -> list[Item]:
        try:
            first = self._queue.get(timeout=0.5)
        except queue.Empty:
            return []
        batch = [first]
        while len(batch) < self.settings.batch_max:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return batch

    def _write_loop(self) -> None:
        while not (self._stop.is_set() and self._queue.empty()):
            batch = self._take()
            if batch:
                self._write(batch)

    def _write(self, batch: list[Item]) -> None:
        valid: list[tuple[Reading, bytes]] = []
        channels: dict[tm.Channel, int] = {}
        for result, payload, _mid in batch:
            if isinstance(result, Rejected):
                self.metrics.rejected.labels(str(result.why)).inc()
                self._warn.warn(
                    f"rejected {result.why}",
                    f"refused a message on {result.topic}: {result.why}: {result.detail}",
                )
            else:
                channel = _channel(result)
                channels[channel] = channels.get(channel, 0) + 1
                valid.append((result, payload))
        for channel, count in channels.items():
            self.metrics.received.labels(str(channel)).inc(count)
        while True:
            started = time.monotonic()
            try:
                stored = self.store.ingest(valid)
            except SQLAlchemyError as error:
                self.metrics.store_errors.inc()
                self._warn.warn("store", f"cannot store telemetry, retrying: {error}")
                if self._stop.wait(2.0):
                    return  # unacknowledged: the broker sends it again
                continue
            except Exception:  # a fault of ours with some message: never stop ingest for it
                log.exception("a batch of %d messages could not be stored", len(valid))
                stored = self._one_by_one(valid)
            break
        self.metrics.batch_seconds.observe(time.monotonic() - started)
        self.metrics.events_stored.inc(stored.events)
        self.metrics.events_repeated.inc(stored.repeats)
        done = time.time()
        for reading, _ in valid:
            if not isinstance(reading.message, tm.StateMessage):  # a retained state is old news
                self.metrics.lag_seconds.observe(max(0.0, done - reading.message.at.timestamp()))
        for _result, _payload, mid in batch:
            if mid:
                self.client.ack(mid, 1)
        if self.on_stored is not None and valid:
            self.on_stored()


def _sum(parts: list[Stored]) -> Stored:
    return Stored(*(sum(getattr(p, f.name) for p in parts) for f in dataclasses.fields(Stored)))


def _channel(reading: Reading) -> tm.Channel:
    message = reading.message
    if isinstance(message, tm.StateMessage):
        return tm.Channel.STATE
    return tm.Channel.HEALTH if isinstance(message, tm.HealthMessage) else tm.Channel.EVENT
