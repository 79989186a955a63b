"""The fleet's broker: mutual TLS, and a message published and received back.

The kiosk connects as itself (its device certificate; the broker names the client by
the certificate), subscribes to its own self-test topic, publishes one message there
and waits for that very message. That proves, beyond "the port answers", that the
broker trusts the certificate, that its ACL lets the kiosk write and read, and that it
delivers. docs/telemetry.md explains the topic, and that this connection takes over the
running kiosk's own for a moment.
"""

from __future__ import annotations

import datetime as dt
import secrets
import ssl
import threading
import time
from dataclasses import dataclass, field

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from protocol import telemetry as tm
from provisioning.selftest import tls
from provisioning.selftest.network_checks import classify, unreachable_words
from provisioning.selftest.results import CheckResult
from provisioning.selftest.target import BrokerTarget, Target

BROKER = ("broker", "Fleet broker (mutual TLS, message round trip)")
#: Seconds for the connection, the subscription and the message to come back, each.
BROKER_TIMEOUT = 10.0


@dataclass
class _Progress:
    """What the MQTT client's thread has seen so far (set there, read by the check)."""

    connack: threading.Event = field(default_factory=threading.Event)
    suback: threading.Event = field(default_factory=threading.Event)
    puback: threading.Event = field(default_factory=threading.Event)
    echoed: threading.Event = field(default_factory=threading.Event)
    gone: threading.Event = field(default_factory=threading.Event)
    refusal: str | None = None
    subscribe_refused: str | None = None
    publish_refused: str | None = None
    #: Why the broker ended the connection, when it did (MQTT 5 reason).
    ended: str | None = None


def _client(target: Target, context: ssl.SSLContext, nonce: str, seen: _Progress) -> mqtt.Client:
    topic = tm.topic(target.kiosk_id, tm.Channel.SELFTEST)
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=target.kiosk_id,
        protocol=mqtt.MQTTv5,
        reconnect_on_failure=False,
    )
    client.tls_set_context(context)
    client.connect_timeout = BROKER_TIMEOUT

    def on_connect(_c: object, _u: object, _f: object, code: object, _p: object) -> None:
        if getattr(code, "is_failure", False):
            seen.refusal = str(code)
        seen.connack.set()

    def on_subscribe(_c: object, _u: object, _m: object, codes: list, _p: object) -> None:
        if not codes or codes[0].is_failure:
            seen.subscribe_refused = str(codes[0]) if codes else "no answer"
        seen.suback.set()

    def on_publish(_c: object, _u: object, _m: object, code: object, _p: object) -> None:
        if getattr(code, "is_failure", False):
            seen.publish_refused = str(code)
        seen.puback.set()

    def on_message(_c: object, _u: object, message: mqtt.MQTTMessage) -> None:
        try:
            echo = tm.decode(tm.SelftestMessage, message.payload)
        except ValueError:
            return
        if message.topic == topic and echo.nonce == nonce:
            seen.echoed.set()

    def on_disconnect(_c: object, _u: object, _f: object, code: object, _p: object) -> None:
        seen.ended = str(code)
        seen.gone.set()

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_publish = on_publish
    client.on_message = on_message
    client.on_disconnect = on_disconnect
    return client


def _wait(event: threading.Event, seen: _Progress, timeout: float) -> bool:
    """Wait for ``event`` unless the connection ends first (a deadline, never a bare sleep)."""
    deadline = time.monotonic() + timeout
    while not event.is_set() and not seen.gone.is_set() and time.monotonic() < deadline:
        event.wait(0.05)
    return event.is_set()


def _connect_failure(error: Exception, target: Target, broker: BrokerTarget) -> CheckResult:
    if isinstance(error, ssl.SSLError):
        words = tls.tls_words(
            error,
            what="broker",
            ca_key="telemetry.ca_file",
            ca_file=broker.ca_file,
            client_cert=target.client_cert,
        )
    elif isinstance(error, OSError):
        words = unreachable_words(classify(error), broker.endpoint, "broker", "telemetry.broker")
    else:
        words = (
            f"cannot connect to the broker ({error})",
            "check telemetry.broker in kiosk.toml",
        )
    return CheckResult.failed(*BROKER, *words)


def _round_trip(
    client: mqtt.Client, target: Target, seen: _Progress, nonce: str, timeout: float
) -> CheckResult:
    topic = tm.topic(target.kiosk_id, tm.Channel.SELFTEST)
    refused_certificate = (
        "the broker closed the connection before accepting it: it most likely refused this "
        "kiosk's device certificate",
        f"the device certificate {target.client_cert} may be revoked, expired or from "
        "another fleet: renew it ('kiosk-provision renew') or enrol the kiosk again",
    )
    if not _wait(seen.connack, seen, timeout):
        if seen.gone.is_set():
            return CheckResult.failed(*BROKER, *refused_certificate)
        return CheckResult.failed(
            *BROKER,
            f"the broker accepted the TLS connection but did not answer MQTT within {timeout:g} s",
            "check that telemetry.broker names the broker's MQTT-over-TLS port (8883)",
        )
    if seen.refusal is not None:
        return CheckResult.failed(
            *BROKER,
            f"the broker refused this kiosk's connection: {seen.refusal}",
            "ask facility IT to check the broker's settings for this kiosk's certificate name "
            f"({target.kiosk_id})",
        )

    def taken_over() -> CheckResult:
        return CheckResult.failed(
            *BROKER,
            f"the broker ended the connection during the test ({seen.ended}): another "
            "connection with this kiosk's certificate took its place, most likely the kiosk "
            "program reconnecting",
            "run the self-test again (the check takes a moment; the kiosk reconnects a few "
            "seconds after it)",
        )

    acl_fix = (
        "the broker's ACL must give each kiosk 'pattern readwrite siths-kiosk/v1/%u/selftest' "
        "(docs/telemetry.md): ask facility IT to update the broker's ACL file"
    )
    started = time.monotonic()
    client.subscribe(topic, qos=1)
    if not _wait(seen.suback, seen, timeout) and seen.gone.is_set():
        return taken_over()
    if not seen.suback.is_set() or seen.subscribe_refused:
        return CheckResult.failed(
            *BROKER,
            f"the broker does not let this kiosk read {topic} "
            f"({seen.subscribe_refused or 'no answer'})",
            acl_fix,
        )
    message = tm.SelftestMessage(kiosk=target.kiosk_id, nonce=nonce, at=dt.datetime.now(dt.UTC))
    client.publish(topic, tm.encode(message), qos=1)
    if not _wait(seen.puback, seen, timeout) and seen.gone.is_set():
        return taken_over()
    if not seen.puback.is_set() or seen.publish_refused:
        return CheckResult.failed(
            *BROKER,
            f"the broker did not take the message on {topic} "
            f"({seen.publish_refused or 'no acknowledgement'})",
            acl_fix,
        )
    if not _wait(seen.echoed, seen, timeout):
        if seen.gone.is_set():
            return taken_over()
        return CheckResult.failed(
            *BROKER,
            f"the broker took the message on {topic} but did not deliver it back "
            f"within {timeout:g} s",
            acl_fix,
        )
    took = round((time.monotonic() - started) * 1000)
    return CheckResult.ok(
        *BROKER,
        f"the broker accepted the device certificate; a message on {topic} came back in {took} ms",
    )


def check_broker(target: Target, *, timeout: float = BROKER_TIMEOUT) -> CheckResult:
    """Connect as the kiosk, publish on the self-test topic and wait for the message back."""
    broker = target.broker
    if broker is None:
        return CheckResult.skipped(
            *BROKER, "kiosk.toml has no [telemetry] table, so the kiosk uses no broker"
        )
    try:
        context = tls.client_context(broker.ca_file, target.client_cert, target.client_key)
    except (OSError, ssl.SSLError) as error:
        words = tls.files_words(error, broker.ca_file, target.client_cert, target.client_key)
        return CheckResult.failed(*BROKER, *words)
    nonce = secrets.token_hex(16)
    seen = _Progress()
    client = _client(target, context, nonce, seen)
    try:
        # A clean start: the self-test must not take the kiosk's queued commands.
        client.connect(broker.endpoint.host, broker.endpoint.port, keepalive=30, clean_start=True)
    except (OSError, ValueError) as error:
        return _connect_failure(error, target, broker)
    client.loop_start()
    try:
        return _round_trip(client, target, seen, nonce, timeout)
    finally:
        client.disconnect()
        client.loop_stop()
