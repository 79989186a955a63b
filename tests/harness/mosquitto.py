"""A private Mosquitto for the tests: the broker of :mod:`sim.broker` (TLS, client
certificates, identity as username, the broker settings and the ACL of docs/telemetry.md),
with the two fleet identities the tests use (each fleet instance has its own name)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sim import broker
from sim.dev_pki import DevPkiFiles

FLEET_ID = "fleet:server"
#: A second fleet identity (each fleet instance has its own: the client id is the name).
OTHER_FLEET_ID = "fleet:other"

__all__ = ["FLEET_ID", "OTHER_FLEET_ID", "Mosquitto"]


class Mosquitto(broker.Mosquitto):
    """The sim broker with both test fleet identities in its ACL unless told otherwise."""

    def __init__(
        self,
        folder: Path,
        pki: DevPkiFiles,
        port: int | None = None,
        *,
        fleet_ids: Sequence[str] = (FLEET_ID, OTHER_FLEET_ID),
        **options: object,
    ) -> None:
        super().__init__(folder, pki, port, fleet_ids=fleet_ids, **options)  # type: ignore[arg-type]
