"""The kiosk's telemetry: state, health and events to the fleet over MQTT 5 (docs/telemetry.md).

:mod:`kiosk.telemetry.messages` builds the messages (pure), :mod:`kiosk.outbox` keeps
them on disk until the broker acknowledges them, :mod:`kiosk.telemetry.link` holds the
MQTT connection, and :mod:`kiosk.telemetry.service` ties them to the kiosk.
"""
