"""The kiosk's configuration: one TOML file, validated at start.

The file's shape is a set of pydantic models, one per table, so the keys, their
defaults and their limits are written once and :func:`render` can check what it
writes with the same rules :func:`parse` reads with. Every mistake is reported
on one line with the key's dotted name and what the value must be
(``card_service.read_timeout: must be a number between 0.1 and 120 (got 0)``),
so a technician can fix the file without reading code or a traceback. Missing
device certificate files are not a configuration error: the kiosk then shows
"not provisioned" and waits for the technician's tool.
"""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal, get_args
from urllib.parse import urlsplit

import tomli_w
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
    field_validator,
)
from pydantic.fields import FieldInfo

from hw.pcsc import APDU_TIMEOUT
from kiosk.cardservice_client import CONNECT_TIMEOUT, READ_TIMEOUT
from kiosk.flow.machine import Timeouts
from protocol.card_rules import PUK_SAFETY_MARGIN
from protocol.enrolment import KIOSK_ID_MAX_LENGTH, KIOSK_ID_PATTERN
from protocol.telemetry import DEFAULT_WILL_DELAY

DEFAULT_PATH = Path("/etc/siths-kiosk/kiosk.toml")
DEFAULT_OUTBOX = Path("/var/lib/siths-kiosk/telemetry.sqlite3")
#: Outcome reports wait here until the card service takes them (beside telemetry's queue).
DEFAULT_OUTCOME_OUTBOX = DEFAULT_OUTBOX.with_name("outcomes.sqlite3")

#: Seconds a ``[timeouts]`` value may be: a screen must stay up a moment, and more than an
#: hour is a typo (minutes written as seconds), not a wish.
TIMEOUT_LIMITS = (1.0, 3600.0)
#: A wrong value longer than this is cut short in the message, which stays one line.
_SHOWN_MAX = 40

Language = Literal["sv", "en"]


class ConfigError(Exception):
    """The configuration file cannot be used; the message names the key."""


def _rule(default: Any, must: str, **limits: Any) -> Any:
    """A key's default and limits, with the words a technician reads when a value breaks them.

    The words are kept in the field's ``description`` beside the limits they explain;
    pydantic's own messages speak of Python types and are never shown. No parentheses:
    the message adds ``(got ...)``.
    """
    return Field(default, description=f"must be {must}", **limits)


def _between(default: float, low: float, high: float, what: str = "a number") -> Any:
    """A number key whose message quotes the very limits it is checked against."""
    return _rule(default, f"{what} between {low:g} and {high:g}", ge=low, le=high)


def _absolute(path: Path) -> Path:
    """Refuse a relative path: under systemd it would be relative to ``/``, silently."""
    if not path.is_absolute():
        raise ValueError("relative path")  # the technician reads the key's description
    return path


def _without_trailing_slash(url: str) -> str:
    """The client appends ``/v1/...``; a trailing slash would double it. The port must exist."""
    try:
        urlsplit(url).port  # noqa: B018  (raises on a port above 65535 or not a number)
    except ValueError:
        raise ValueError("port out of range") from None
    return url.rstrip("/")


# TOML has no path type: the path is a string, so this one type may convert (strict=False).
AbsolutePath = Annotated[Path, Field(strict=False), AfterValidator(_absolute)]


class _Table(BaseModel):
    """What every table shares.

    Unknown keys are refused (they are usually misspellings, and a misspelt key would
    otherwise silently keep its default); values are never coerced (``"8"`` is not 8,
    ``1`` is not ``true``); defaults pass the same limits as the file's values; and
    nothing changes once loaded.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, validate_default=True)


class KioskTable(_Table):
    """``[kiosk]``: who this kiosk is and how its screen behaves."""

    id: str = _rule(
        ...,
        f"1 to {KIOSK_ID_MAX_LENGTH} letters, digits, '.', '_' or '-'",
        pattern=KIOSK_ID_PATTERN,
        min_length=1,
        max_length=KIOSK_ID_MAX_LENGTH,
    )
    #: Goes into the holder's e-mail: one line of plain text.
    location: str = _rule(
        ..., "one line of text, at most 200 characters", pattern=r"^[^\n\r]*$", max_length=200
    )
    language: Language = _rule("sv", " or ".join(f'"{code}"' for code in get_args(Language)))
    fullscreen: bool = _rule(True, "true or false")
    scramble_keypad: bool = _rule(False, "true or false")


class CardServiceConfig(_Table):
    """``[card_service]``: how to reach the card service (HTTPS with mutual TLS)."""

    url: Annotated[str, AfterValidator(_without_trailing_slash)] = _rule(
        ...,
        "an https:// address such as https://cardservice.example.org:8443",
        pattern=r"^https://[^\s/]+(/\S*)?$",
    )
    ca_file: AbsolutePath = _rule(..., "an absolute path")
    client_cert: AbsolutePath = _rule(..., "an absolute path")
    client_key: AbsolutePath = _rule(..., "an absolute path")
    connect_timeout: float = _between(CONNECT_TIMEOUT, 0.1, 60)
    read_timeout: float = _between(READ_TIMEOUT, 0.1, 120)
    outbox: AbsolutePath = _rule(DEFAULT_OUTCOME_OUTBOX, "an absolute path")


class CardsTable(_Table):
    """``[cards]``: which SITHS cards the kiosk trusts and how careful it is with PUK tries."""

    # A list in the file, a tuple once loaded (frozen); the list is what needs strict=False.
    trust_anchors: tuple[AbsolutePath, ...] = _rule(
        ..., "a list of absolute paths to PEM files", min_length=1, strict=False
    )
    # At least one try is kept for an ID administrator; 10 wrong PUKs lock a SITHS card for good.
    puk_margin: int = _between(PUK_SAFETY_MARGIN, 1, 9, "a whole number")
    # A card that does not answer one command in this time is given up ("card not answering").
    apdu_timeout: float = _between(APDU_TIMEOUT, 0.5, 60)


class TelemetryTable(_Table):
    """``[telemetry]``: the fleet's MQTT broker (docs/telemetry.md); optional.

    Without it the kiosk keeps its session reports in its log only. The device
    certificate of ``[card_service]`` is the kiosk's identity to the broker too.
    """

    broker: str = _rule(
        ...,
        "an mqtts:// address such as mqtts://broker.example.org:8883",
        pattern=r"^mqtts://[A-Za-z0-9.-]+(:[0-9]{1,5})?$",
    )
    ca_file: AbsolutePath = _rule(..., "an absolute path")
    card_hash_key_file: AbsolutePath = _rule(..., "an absolute path")
    outbox: AbsolutePath = _rule(DEFAULT_OUTBOX, "an absolute path")
    site: str = _rule(
        "", "one line of text, at most 200 characters", pattern=r"^[^\n\r]*$", max_length=200
    )
    health_interval: float = _between(60.0, 5, 3600)
    will_delay: int = _between(DEFAULT_WILL_DELAY, 0, 600, "a whole number")

    @field_validator("broker")
    @classmethod
    def _port_in_range(cls, broker: str) -> str:
        port = urlsplit(broker).port if ":" in broker.removeprefix("mqtts://") else 8883
        if port is None or not 1 <= port <= 65535:
            raise ValueError("port out of range")
        return broker

    @property
    def host_and_port(self) -> tuple[str, int]:
        """The broker's host and port (8883, MQTT over TLS, unless the address says)."""
        address = urlsplit(self.broker)
        return address.hostname or "", address.port or 8883


# One optional key per field of the flow's Timeouts, with its default: the names and
# the defaults are written once, in kiosk/flow/machine.py.
TimeoutsTable = create_model(
    "TimeoutsTable",
    __base__=_Table,
    __doc__="``[timeouts]``: seconds each waiting screen waits (all optional).",
    **{
        field.name: (float, _between(field.default, *TIMEOUT_LIMITS))
        for field in dataclasses.fields(Timeouts)
    },
)


class KioskConfig(_Table):
    """Everything the appliance reads at start: the file's tables, and flat names for them."""

    kiosk: KioskTable
    card_service: CardServiceConfig
    cards: CardsTable
    timeouts_table: TimeoutsTable = Field(default_factory=TimeoutsTable, alias="timeouts")
    telemetry: TelemetryTable | None = None

    @property
    def kiosk_id(self) -> str:
        """``[kiosk] id``, also the common name of the device certificate."""
        return self.kiosk.id

    @property
    def location(self) -> str:
        """``[kiosk] location``, shown in the holder's e-mail."""
        return self.kiosk.location

    @property
    def language(self) -> Language:
        """``[kiosk] language``: the screen's language at start."""
        return self.kiosk.language

    @property
    def fullscreen(self) -> bool:
        """``[kiosk] fullscreen``: false only for development."""
        return self.kiosk.fullscreen

    @property
    def scramble_keypad(self) -> bool:
        """``[kiosk] scramble_keypad``: shuffle the PIN keypad's digits."""
        return self.kiosk.scramble_keypad

    @property
    def trust_anchors(self) -> tuple[Path, ...]:
        """``[cards] trust_anchors``: the SITHS root and issuing CA files."""
        return self.cards.trust_anchors

    @property
    def puk_margin(self) -> int:
        """``[cards] puk_margin``: PUK tries the kiosk never spends."""
        return self.cards.puk_margin

    @property
    def apdu_timeout(self) -> float:
        """``[cards] apdu_timeout``: seconds one command to the card may take."""
        return self.cards.apdu_timeout

    @property
    def timeouts(self) -> Timeouts:
        """``[timeouts]`` as the flow takes them."""
        return Timeouts(**self.timeouts_table.model_dump())

    @property
    def provisioned(self) -> bool:
        """Whether the device certificate and the trust files are in place."""
        files = [
            self.card_service.ca_file,
            self.card_service.client_cert,
            self.card_service.client_key,
            *self.trust_anchors,
        ]
        return all(path.is_file() for path in files)


def table_model(field: FieldInfo) -> type[_Table] | None:
    """The model of a table-valued key (an optional table too), or ``None`` for a value."""
    for kind in (field.annotation, *get_args(field.annotation)):
        if isinstance(kind, type) and issubclass(kind, _Table):
            return kind
    return None


def _field_at(keys: list[str]) -> FieldInfo:
    """The schema of the key at a dotted path (a pydantic error's ``loc``)."""
    model: type[_Table] = KioskConfig
    for key in keys:
        field = next(f for name, f in model.model_fields.items() if (f.alias or name) == key)
        model = table_model(field) or model
    return field


def _shown(value: object) -> str:
    """A wrong value as the technician wrote it (TOML spelling), short and on one line."""
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list" if value else "an empty list"
    text = tomli_w.dumps({"v": value}).removeprefix("v = ").strip()
    return text if len(text) <= _SHOWN_MAX else text[: _SHOWN_MAX - 3] + "..."


def _first_problem(error: ValidationError) -> str:
    """One line for pydantic's first error.

    Pydantic lists errors in the order of the tables and keys above, then unknown
    keys in file order, so the same file always names the same problem. List
    positions are left out of the name: the value shown says which entry it is.
    """
    detail = error.errors(include_url=False)[0]
    keys = [part for part in detail["loc"] if isinstance(part, str)]
    name = ".".join(keys)
    if detail["type"] == "extra_forbidden":
        return f"{name}: unknown key (misspelt?)"
    field = _field_at(keys)
    is_table = table_model(field) is not None
    if detail["type"] == "missing":
        return f"{name}: missing table [{name}]" if is_table else f"{name}: missing"
    must = "must be a table" if is_table else field.description
    return f"{name}: {must} (got {_shown(detail['input'])})"


def _validated(data: dict[str, Any]) -> KioskConfig:
    """The configuration from TOML data, or :class:`ConfigError` naming the first problem."""
    try:
        return KioskConfig.model_validate(data)
    except ValidationError as error:
        raise ConfigError(_first_problem(error)) from None


def parse(text: str) -> KioskConfig:
    """Validate TOML text; :class:`ConfigError` names the first problem."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"not valid TOML: {error}") from None
    return _validated(data)


def render(
    *,
    kiosk_id: str,
    location: str,
    url: str,
    ca_file: Path,
    client_cert: Path,
    client_key: Path,
    trust_anchors: list[Path],
    fullscreen: bool = True,
    telemetry: dict[str, Any] | None = None,
    outcome_outbox: Path | None = None,
) -> str:
    """A configuration file's text (the demo, the tests and the technician's tool write it).

    The values are checked with the same rules as :func:`parse` first, so a file this
    writes always loads; :class:`ConfigError` names the first value that would not.
    """
    data: dict[str, Any] = {
        "kiosk": {"id": kiosk_id, "location": location, "fullscreen": fullscreen},
        "card_service": {
            "url": url,
            "ca_file": str(ca_file),
            "client_cert": str(client_cert),
            "client_key": str(client_key),
            **({} if outcome_outbox is None else {"outbox": str(outcome_outbox)}),
        },
        "cards": {"trust_anchors": [str(path) for path in trust_anchors]},
    }
    if telemetry is not None:  # the [telemetry] table's keys; paths written as text
        data["telemetry"] = {
            key: str(value) if isinstance(value, Path) else value
            for key, value in telemetry.items()
        }
    _validated(data)
    return tomli_w.dumps(data)


def load(path: Path = DEFAULT_PATH) -> KioskConfig:
    """Read and validate the file; errors name the file and the key."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot be read ({error})") from None
    try:
        return parse(text)
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from None
