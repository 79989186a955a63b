"""What the self-test needs to know about the kiosk, read from its installed ``kiosk.toml``.

Read here with :mod:`tomllib` rather than through ``kiosk.config``: ``provisioning``
never imports ``kiosk`` (the two are installed and run apart; see docs/design.md). Only
the keys the checks use are read, with the defaults docs/kiosk-config.md gives them; the
kiosk itself still validates the whole file at its start. A missing or unusable key is a
:class:`TargetError` that names it, because without it there is nothing to test against.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

DEFAULT_CONFIG = Path("/etc/siths-kiosk/kiosk.toml")
#: The kiosk's state folder when ``[telemetry] outbox`` does not place it elsewhere.
DEFAULT_STATE_DIR = Path("/var/lib/siths-kiosk")
#: MQTT over TLS, unless ``telemetry.broker`` names a port.
MQTTS_PORT = 8883
#: Seconds a card command may take when ``cards.apdu_timeout`` is not given.
DEFAULT_APDU_TIMEOUT = 5.0


class TargetError(Exception):
    """The configuration cannot tell the self-test what to check; the message names the key."""


@dataclass(frozen=True)
class Endpoint:
    """A host and port the kiosk must reach."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class BrokerTarget:
    """``[telemetry]``: the fleet's MQTT broker."""

    endpoint: Endpoint
    ca_file: Path


@dataclass(frozen=True)
class Target:
    """Everything the checks look at, from one kiosk's configuration."""

    config_file: Path
    kiosk_id: str
    site: str
    card_service_url: str
    card_service: Endpoint
    card_service_ca: Path
    client_cert: Path
    client_key: Path
    trust_anchors: tuple[Path, ...]
    apdu_timeout: float
    #: ``None`` when the kiosk has no ``[telemetry]`` table (no broker to test).
    broker: BrokerTarget | None
    state_dir: Path


def _get(data: dict[str, Any], dotted: str, kind: type, default: object = None) -> Any:
    table, key = dotted.split(".")
    value = data.get(table, {}).get(key, default)
    if value is None:
        raise TargetError(f"{dotted}: missing")
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind):
        raise TargetError(f"{dotted}: must be {kind.__name__} (got {value!r})")
    return value


def _endpoint(url: str, key: str, default_port: int) -> Endpoint:
    try:
        parts = urlsplit(url)
        port = parts.port or default_port
    except ValueError:
        raise TargetError(f"{key}: not a usable address (got {url!r})") from None
    if not parts.hostname:
        raise TargetError(f"{key}: no host name in {url!r}")
    return Endpoint(parts.hostname, port)


def parse(text: str, config_file: Path = DEFAULT_CONFIG) -> Target:
    """The self-test's target from a ``kiosk.toml``'s text."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise TargetError(f"not valid TOML: {error}") from None
    url = _get(data, "card_service.url", str).rstrip("/")
    if not url.startswith("https://"):
        raise TargetError(f"card_service.url: must be an https:// address (got {url!r})")
    broker = None
    if "telemetry" in data:
        broker = BrokerTarget(
            _endpoint(_get(data, "telemetry.broker", str), "telemetry.broker", MQTTS_PORT),
            Path(_get(data, "telemetry.ca_file", str)),
        )
    outbox = data.get("telemetry", {}).get("outbox")
    anchors = _get(data, "cards.trust_anchors", list)
    return Target(
        config_file=config_file,
        kiosk_id=_get(data, "kiosk.id", str),
        site=_get(data, "telemetry.site", str, ""),
        card_service_url=url,
        card_service=_endpoint(url, "card_service.url", 443),
        card_service_ca=Path(_get(data, "card_service.ca_file", str)),
        client_cert=Path(_get(data, "card_service.client_cert", str)),
        client_key=Path(_get(data, "card_service.client_key", str)),
        trust_anchors=tuple(Path(str(anchor)) for anchor in anchors),
        apdu_timeout=_get(data, "cards.apdu_timeout", float, DEFAULT_APDU_TIMEOUT),
        broker=broker,
        state_dir=Path(outbox).parent if isinstance(outbox, str) else DEFAULT_STATE_DIR,
    )


def load(path: Path = DEFAULT_CONFIG) -> Target:
    """Read the installed configuration; :class:`TargetError` names the file and the problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TargetError(f"{path}: no such file (is the kiosk enrolled?)") from None
    except (OSError, UnicodeDecodeError) as error:
        raise TargetError(f"{path}: cannot be read ({error})") from None
    try:
        return parse(text, path)
    except TargetError as error:
        raise TargetError(f"{path}: {error}") from None
