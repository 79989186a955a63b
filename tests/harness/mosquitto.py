"""A private Mosquitto for the tests: the broker of :mod:`sim.broker` (TLS, client
certificates, identity as username, the ACL of docs/telemetry.md), with the fleet
identity the tests use."""

from __future__ import annotations

from sim.broker import Mosquitto

FLEET_ID = "fleet:server"

__all__ = ["FLEET_ID", "Mosquitto"]
