"""The telemetry contract between a kiosk and the fleet (docs/telemetry.md), version 1.

Topics are per kiosk, ``siths-kiosk/v1/<kiosk id>/<channel>``; payloads are plain
JSON a person can read with ``mosquitto_sub``, each with ``"v": 1``. The kiosk
builds every message with these models and the fleet validates with them, so the
two cannot drift. Ideas taken from Sparkplug B (a birth and a death per
*incarnation*, a sequence number, rebirth on request) and Homie (a retained
``state``), without their binary encodings.

No message has a field for a PIN, a PUK, a personal identity number or a name;
a card appears only as a keyed hash (:func:`card_hash`) the fleet can search by.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import hmac
from collections.abc import Iterable
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    WithJsonSchema,
)

from protocol.reasons import Outcome
from protocol.times import parse_rfc3339

VERSION = 1
ROOT = f"siths-kiosk/v{VERSION}"
#: A fleet identity's certificate name starts with this; no kiosk id can contain ``:``.
FLEET_IDENTITY_PREFIX = "fleet:"
#: MQTT 5 ``Will Delay Interval`` a kiosk asks for, unless configured otherwise (seconds).
DEFAULT_WILL_DELAY = 30
#: The largest payload either side sends or accepts (bytes).
MAX_PAYLOAD = 16 * 1024


class Channel(enum.StrEnum):
    """The last part of a kiosk's topic."""

    STATE = "state"  # retained, QoS 1: birth, offline, and the will ("lost")
    HEALTH = "health"  # QoS 1: a sample every health interval
    EVENT = "event"  # QoS 1: what happened, one message per event
    COMMAND = "cmd"  # QoS 1, fleet -> kiosk: cmd/<command name>
    #: QoS 1, kiosk -> itself: the technician's self-test publishes here and reads it back,
    #: proving the broker takes and delivers the kiosk's messages. Nobody else reads it.
    SELFTEST = "selftest"


class Command(enum.StrEnum):
    """What the fleet may ask of a kiosk."""

    REBIRTH = "rebirth"  # publish the birth again
    MAINTENANCE = "maintenance"  # on: out of service after the session under way


def topic(kiosk_id: str, channel: Channel, command: Command | None = None) -> str:
    """The topic of one kiosk's channel (``cmd/<name>`` for a command)."""
    if ("/" in kiosk_id) or ("+" in kiosk_id) or ("#" in kiosk_id) or not kiosk_id:
        raise ValueError("a kiosk id cannot be empty or hold '/', '+' or '#'")
    base = f"{ROOT}/{kiosk_id}/{channel}"
    return f"{base}/{command}" if command is not None else base


def parse_topic(name: str) -> tuple[str, Channel, Command | None] | None:
    """``(kiosk id, channel, command)`` of a topic of this contract, or ``None``."""
    parts = name.split("/")
    if parts[:2] != ROOT.split("/") or len(parts) not in (4, 5):
        return None
    try:
        channel = Channel(parts[3])
        command = Command(parts[4]) if len(parts) == 5 else None
    except ValueError:
        return None
    if (channel is Channel.COMMAND) != (command is not None) or not parts[2]:
        return None
    return parts[2], channel, command


#: What the contract needs of a Mosquitto listener beside TLS and the ACL (docs/telemetry.md):
#: the client id is the certificate's name (no client can take over another's session),
#: queues for a client that is away are not cut at Mosquitto's default of 1,000 messages,
#: and what the broker holds is saved to disk as it changes.
BROKER_SETTINGS = (
    "use_username_as_clientid true",
    "max_queued_messages 0",
    "autosave_on_changes true",
    "autosave_interval 100",
)


def mosquitto_acl(fleet_identities: Iterable[str]) -> str:
    """The broker's access rules in Mosquitto's ``acl_file`` syntax (docs/telemetry.md).

    With ``use_identity_as_username`` the user (``%u``) is the client certificate's
    common name: a kiosk writes only its own state, health and events and reads only
    its own commands, and writes and reads back its own self-test messages; the fleet's
    identities read everything and write commands.
    """
    lines = [
        "# kiosks: %u is the common name of the client certificate",
        f"pattern write {ROOT}/%u/{Channel.STATE}",
        f"pattern write {ROOT}/%u/{Channel.HEALTH}",
        f"pattern write {ROOT}/%u/{Channel.EVENT}",
        f"pattern read {ROOT}/%u/{Channel.COMMAND}/+",
        f"pattern readwrite {ROOT}/%u/{Channel.SELFTEST}",
    ]
    for identity in fleet_identities:
        if not identity.startswith(FLEET_IDENTITY_PREFIX):
            raise ValueError(f"a fleet identity starts with {FLEET_IDENTITY_PREFIX!r}")
        lines += [
            f"# the fleet: {identity}",
            f"user {identity}",
            f"topic read {ROOT}/#",
            f"topic write {ROOT}/+/{Channel.COMMAND}/+",
        ]
    return "\n".join(lines) + "\n"


def card_hash(key: bytes, card_number: str) -> str:
    """The card as telemetry names it: hex HMAC-SHA256 under the fleet's card-hash key."""
    return hmac.new(key, card_number.encode(), hashlib.sha256).hexdigest()


def _time(value: object) -> dt.datetime:
    if isinstance(value, dt.datetime) and value.utcoffset() is not None:
        return value
    if not isinstance(value, str):
        raise ValueError("must be an RFC 3339 date-time string")
    return parse_rfc3339(value)


def _format(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


#: A timezone-aware time; RFC 3339 UTC with milliseconds and ``Z`` on the wire.
Time = Annotated[
    dt.datetime,
    PlainValidator(_time),
    PlainSerializer(_format, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
KioskId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
Count = Annotated[int, Field(ge=0)]
ShortText = Annotated[str, Field(max_length=200)]


class _Message(BaseModel):
    """Every payload: version 1, unknown members refused, immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    v: Literal[1] = VERSION


class KioskState(enum.StrEnum):
    """A kiosk's retained state."""

    ONLINE = "online"  # the birth
    OFFLINE = "offline"  # stopped cleanly
    LOST = "lost"  # the will: the connection ended without a goodbye


class StateMessage(_Message):
    """``state`` (retained): the birth, the clean offline, or the will."""

    kiosk: KioskId
    state: KioskState
    incarnation: Count
    at: Time
    software: ShortText | None = None
    site: ShortText | None = None
    location: ShortText | None = None
    maintenance: bool = False
    health_interval: float | None = None
    #: A few settings that explain behaviour (no secrets, no file contents).
    config: dict[str, str | int | float | bool] = Field(default_factory=dict)


class Throttling(_Message):
    """The Raspberry Pi firmware's throttling flags, now and since boot."""

    under_voltage: bool
    frequency_capped: bool
    throttled: bool
    soft_temperature_limit: bool
    under_voltage_since_boot: bool
    frequency_capped_since_boot: bool
    throttled_since_boot: bool
    soft_temperature_limit_since_boot: bool


class Counters(_Message):
    """Counts since the kiosk program started."""

    sessions: Count = 0
    unlocks_succeeded: Count = 0
    unlocks_failed: Count = 0
    #: Events that could not be written to the outbox (disk full, database locked).
    events_lost: Count = 0
    #: Health samples thinned out of a full outbox.
    health_thinned: Count = 0
    #: Messages the broker refused (its ACL): dropped from the outbox, never delivered.
    refused_by_broker: Count = 0
    #: Session reports the kiosk could not even queue for telemetry (a stuck sink).
    reports_dropped: Count = 0


class HealthMessage(_Message):
    """``health``: one sample of the kiosk's condition."""

    kiosk: KioskId
    incarnation: Count
    seq: Count
    at: Time
    uptime_s: float | None = None
    load1: float | None = None
    memory_available_mb: float | None = None
    disk_free_mb: float | None = None
    cpu_temperature_c: float | None = None
    throttling: Throttling | None = None
    reader_present: bool
    #: ``None`` until the kiosk has checked the card service once.
    card_service_up: bool | None = None
    card_service_latency_ms: float | None = None
    clock_synchronised: bool | None = None
    certificate_days_left: int | None = None
    outbox_depth: Count
    maintenance: bool = False
    counters: Counters = Field(default_factory=Counters)


class EventKind(enum.StrEnum):
    """What an event is about: the steps of a session and the kiosk's own changes."""

    SESSION_STARTED = "session-started"
    CARD_READ = "card-read"
    LOGIN_STARTED = "login-started"
    LOGIN_COMPLETE = "login-complete"
    UNLOCK_SUCCEEDED = "unlock-succeeded"
    UNLOCK_FAILED = "unlock-failed"
    #: An unknown outcome settled from the card put back: ``unlocked`` or ``not-unlocked``.
    UNLOCK_RESOLVED = "unlock-resolved"
    SESSION_ENDED = "session-ended"
    OUT_OF_SERVICE = "out-of-service"
    BACK_IN_SERVICE = "back-in-service"
    READER_CONNECTED = "reader-connected"
    READER_DISCONNECTED = "reader-disconnected"
    MAINTENANCE_CHANGED = "maintenance-changed"
    COMMAND_DONE = "command-done"
    ERROR = "error"


class EventMessage(_Message):
    """``event``: one thing that happened, never sent twice under another id."""

    id: Annotated[str, Field(min_length=1, max_length=64)]
    kiosk: KioskId
    incarnation: Count
    seq: Count
    at: Time
    kind: EventKind
    #: ``<incarnation>-<session number>`` for a session's steps.
    session: ShortText | None = None
    #: :func:`card_hash` of the card number.
    card: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")] | None = None
    reason: Annotated[str, Field(pattern=r"^[a-z]+(-[a-z]+)*$", max_length=64)] | None = None
    outcome: Outcome | None = None
    mechanism: ShortText | None = None
    tries_left: Count | None = None
    duration_s: float | None = None
    #: For people: the reader's name, the screen a card was pulled from, a command's id.
    detail: ShortText | None = None


class CommandMessage(_Message):
    """``cmd/<name>`` from the fleet: ``id`` comes back in the ``command-done`` event."""

    id: Annotated[str, Field(min_length=1, max_length=64)]
    at: Time
    by: ShortText | None = None  # who asked (the fleet's user), for the audit
    on: bool | None = None  # maintenance: on or off


class SelftestMessage(_Message):
    """``selftest``: the technician's self-test, published and read back by the kiosk itself.

    ``nonce`` tells this run's message from an earlier run's (a random hex string).
    """

    kiosk: KioskId
    nonce: Annotated[str, Field(pattern=r"^[0-9a-f]{16,64}$")]
    at: Time


Model = TypeVar("Model", bound=_Message)


def encode(message: _Message) -> bytes:
    """The payload bytes: compact JSON, members in a fixed order."""
    data = message.model_dump_json(exclude_none=True).encode()
    if len(data) > MAX_PAYLOAD:
        raise ValueError(f"a {type(message).__name__} is larger than {MAX_PAYLOAD} bytes")
    return data


def decode(model: type[Model], payload: bytes) -> Model:
    """Validate a payload; :class:`ValueError` (or pydantic's subclass) when it is not one."""
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"payload larger than {MAX_PAYLOAD} bytes")
    return model.model_validate_json(payload)


def json_schemas() -> dict[str, dict[str, Any]]:
    """Each payload's JSON Schema, for docs/telemetry.md and the fleet's readers."""
    return {
        model.__name__: model.model_json_schema()
        for model in (StateMessage, HealthMessage, EventMessage, CommandMessage, SelftestMessage)
    }
