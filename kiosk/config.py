"""The kiosk's configuration: one TOML file, validated at start.

Every mistake is reported with the key's dotted name and what is wrong with
it (``card_service.read_timeout: must be a number between 0.1 and 120``), so
a technician can fix the file without reading code. Missing device
certificate files are not a configuration error: the kiosk then shows "not
provisioned" and waits for the technician's tool.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kiosk.flow.machine import Timeouts
from protocol.card_rules import PUK_SAFETY_MARGIN

DEFAULT_PATH = Path("/etc/siths-kiosk/kiosk.toml")


class ConfigError(Exception):
    """The configuration file cannot be used; the message names the key."""


@dataclass(frozen=True)
class CardServiceConfig:
    """How to reach the card service."""

    url: str
    ca_file: Path
    client_cert: Path
    client_key: Path
    connect_timeout: float = 3.05
    read_timeout: float = 10.0


@dataclass(frozen=True)
class KioskConfig:
    """Everything the appliance reads at start."""

    kiosk_id: str
    location: str
    card_service: CardServiceConfig
    trust_anchors: tuple[Path, ...]
    language: str = "sv"
    fullscreen: bool = True
    scramble_keypad: bool = False
    puk_margin: int = PUK_SAFETY_MARGIN
    timeouts: dict[str, float] = field(default_factory=dict)

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


TIMEOUT_KEYS = tuple(f.name for f in dataclasses.fields(Timeouts))


class _Section:
    """Typed access to one table, remembering which keys were read."""

    def __init__(self, name: str, data: object) -> None:
        if not isinstance(data, dict):
            raise ConfigError(f"{name}: must be a table")
        self.name = name
        self.data = data
        self.seen: set[str] = set()

    def _key(self, key: str) -> str:
        return f"{self.name}.{key}" if self.name else key

    def get(self, key: str, kind: type, default: Any = ...) -> Any:
        self.seen.add(key)
        if key not in self.data:
            if default is ...:
                raise ConfigError(f"{self._key(key)}: missing")
            return default
        value = self.data[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ConfigError(f"{self._key(key)}: must be a {kind.__name__}, got {value!r}")
        return value

    def number(self, key: str, low: float, high: float, default: float) -> float:
        value = self.get(key, float, default)
        if not low <= value <= high:
            raise ConfigError(f"{self._key(key)}: must be a number between {low} and {high}")
        return value

    def path(self, key: str) -> Path:
        value = self.get(key, str)
        if not value.startswith("/"):
            raise ConfigError(f"{self._key(key)}: must be an absolute path")
        return Path(value)

    def table(self, key: str, required: bool = True) -> _Section:
        self.seen.add(key)
        if key not in self.data and not required:
            return _Section(self._key(key), {})
        if key not in self.data:
            raise ConfigError(f"{self._key(key)}: missing table [{self._key(key)}]")
        return _Section(self._key(key), self.data[key])

    def done(self) -> None:
        unknown = sorted(set(self.data) - self.seen)
        if unknown:
            raise ConfigError(f"{self._key(unknown[0])}: unknown key (misspelt?)")


def parse(text: str) -> KioskConfig:
    """Validate TOML text; :class:`ConfigError` names the first problem."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"not valid TOML: {error}") from None
    root = _Section("", data)
    kiosk = root.table("kiosk")
    service = root.table("card_service")
    cards = root.table("cards")
    timeouts = root.table("timeouts", required=False)

    kiosk_id = kiosk.get("id", str)
    if not kiosk_id or len(kiosk_id) > 64:
        raise ConfigError("kiosk.id: must be 1 to 64 characters")
    language = kiosk.get("language", str, "sv")
    if language not in ("sv", "en"):
        raise ConfigError('kiosk.language: must be "sv" or "en"')
    url = service.get("url", str)
    if not url.startswith("https://"):
        raise ConfigError("card_service.url: must start with https://")
    anchors = cards.get("trust_anchors", list)
    if not anchors or not all(isinstance(a, str) and a.startswith("/") for a in anchors):
        raise ConfigError("cards.trust_anchors: must be a list of absolute paths to PEM files")
    puk_margin = cards.get("puk_margin", int, PUK_SAFETY_MARGIN)
    if not 1 <= puk_margin <= 9:
        raise ConfigError("cards.puk_margin: must be 1 to 9 (never spend the last PUK tries)")
    config = KioskConfig(
        kiosk_id=kiosk_id,
        location=kiosk.get("location", str),
        language=language,
        fullscreen=kiosk.get("fullscreen", bool, True),
        scramble_keypad=kiosk.get("scramble_keypad", bool, False),
        card_service=CardServiceConfig(
            url=url.rstrip("/"),
            ca_file=service.path("ca_file"),
            client_cert=service.path("client_cert"),
            client_key=service.path("client_key"),
            connect_timeout=service.number("connect_timeout", 0.1, 60, 3.05),
            read_timeout=service.number("read_timeout", 0.1, 120, 10.0),
        ),
        trust_anchors=tuple(Path(a) for a in anchors),
        puk_margin=puk_margin,
        timeouts={
            key: timeouts.number(key, 1, 3600, 0) for key in TIMEOUT_KEYS if key in timeouts.data
        },
    )
    timeouts.seen.update(TIMEOUT_KEYS)
    for section in (timeouts, cards, service, kiosk, root):
        section.done()
    return config


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
) -> str:
    """A configuration file's text (the demo, the tests and the technician's tool write it)."""
    anchors = ", ".join(f'"{path}"' for path in trust_anchors)
    return (
        f'[kiosk]\nid = "{kiosk_id}"\nlocation = "{location}"\n'
        f"fullscreen = {'true' if fullscreen else 'false'}\n\n"
        f'[card_service]\nurl = "{url}"\nca_file = "{ca_file}"\n'
        f'client_cert = "{client_cert}"\nclient_key = "{client_key}"\n\n'
        f"[cards]\ntrust_anchors = [{anchors}]\n"
    )


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
