"""Reading and writing the keys of ``kiosk.toml`` that provisioning owns.

Why not ``kiosk.config.render``: ``provisioning`` and ``kiosk`` never import each other
(pyproject's import contracts), and moving the whole configuration schema into
``protocol`` would make a shared contract of what is the appliance's own business.
So this module writes the TOML itself (tomli-w) and owns exactly the keys enrolment
sets; every other key a technician put in the file (language, timeouts, ...) is kept
as it was. tests/provisioning/test_kiosk_file.py checks that ``kiosk.config.parse``
accepts what this writes, so the two cannot drift unnoticed.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli_w

from provisioning.ownership import replace_file


class KioskFileError(Exception):
    """The existing file cannot be read as TOML (the message names the file)."""


@dataclass(frozen=True)
class Provisioned:
    """What enrolment writes into ``kiosk.toml``."""

    kiosk_id: str
    location: str
    site: str
    card_service_url: str
    card_service_ca: Path
    client_cert: Path
    client_key: Path
    trust_anchors: tuple[Path, ...]
    broker: str
    broker_ca: Path
    card_hash_key_file: Path
    outbox: Path
    health_interval: float
    #: The outcome reports' queue (``[card_service] outbox``), in the same state folder.
    outcome_outbox: Path


def read(path: Path) -> dict[str, Any]:
    """The file's TOML data (empty when there is no file)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as error:
        raise KioskFileError(f"{path}: cannot be read ({error})") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise KioskFileError(f"{path}: not valid TOML ({error})") from None


def _replace(path: Path, data: dict[str, Any]) -> None:
    """Write beside the file and rename over it: the kiosk never reads half a file."""
    replace_file(path, tomli_w.dumps(data).encode("utf-8"), 0o644)


def write(path: Path, values: Provisioned) -> None:
    """Set the provisioned keys, keep every other key of an existing file."""
    data = read(path)
    data.setdefault("kiosk", {}).update({"id": values.kiosk_id, "location": values.location})
    data.setdefault("card_service", {}).update(
        {
            "url": values.card_service_url,
            "ca_file": str(values.card_service_ca),
            "client_cert": str(values.client_cert),
            "outbox": str(values.outcome_outbox),
            "client_key": str(values.client_key),
        }
    )
    data.setdefault("cards", {})["trust_anchors"] = [str(p) for p in values.trust_anchors]
    data.setdefault("telemetry", {}).update(
        {
            "broker": values.broker,
            "ca_file": str(values.broker_ca),
            "card_hash_key_file": str(values.card_hash_key_file),
            "outbox": str(values.outbox),
            "site": values.site,
            "health_interval": values.health_interval,
        }
    )
    _replace(path, data)


def set_place(path: Path, *, site: str | None, location: str | None) -> None:
    """``configure``: change the site and the location in an existing file."""
    data = read(path)
    if location is not None:
        data.setdefault("kiosk", {})["location"] = location
    if site is not None:
        data.setdefault("telemetry", {})["site"] = site
    _replace(path, data)


def place(path: Path) -> tuple[str | None, str | None, str | None]:
    """The kiosk id, site and location the file names (``None`` for any not there)."""
    data = read(path)
    kiosk = data.get("kiosk", {})
    telemetry = data.get("telemetry", {})
    return kiosk.get("id"), telemetry.get("site"), kiosk.get("location")


def remove(path: Path) -> None:
    """Decommissioning: the file goes (a kiosk without it stays out of service)."""
    path.unlink(missing_ok=True)
