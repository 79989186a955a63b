"""The fleet server for facility IT: every kiosk's state, health, events and alerts.

It reads the kiosks' telemetry (docs/telemetry.md, validated with
:mod:`protocol.telemetry`) from the MQTT broker, keeps it in SQLite or PostgreSQL,
judges liveness, raises and clears alerts (e-mail, webhook), and serves a dashboard,
a JSON API and Prometheus metrics to signed-in users (docs/fleet-guide.md).
"""
