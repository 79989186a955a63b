"""The fleet server's Prometheus metrics (``/metrics``), one registry per server.

A registry of its own (not the library's global one) so that two servers in one
process, as in the tests, count apart.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    """Every metric the server exports."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.received = Counter(
            "fleet_messages_received", "Telemetry messages received", ["channel"], registry=r
        )
        self.rejected = Counter(
            "fleet_messages_rejected",
            "Telemetry messages refused (not the contract), by reason",
            ["reason"],
            registry=r,
        )
        self.events_stored = Counter("fleet_events_stored", "New events stored", registry=r)
        self.events_repeated = Counter(
            "fleet_events_repeated", "Repeated events dropped by id", registry=r
        )
        self.batch_seconds = Histogram(
            "fleet_ingest_batch_seconds", "Time to store one batch", registry=r
        )
        self.lag_seconds = Histogram(
            "fleet_ingest_lag_seconds",
            "From a health sample's or event's own time to stored (with the kiosk's clock error)",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600),
            registry=r,
        )
        self.store_errors = Counter(
            "fleet_ingest_store_errors", "Batches the database refused (retried)", registry=r
        )
        self.kiosks = Gauge("fleet_kiosks", "Kiosks by status", ["status"], registry=r)
        self.kiosks_alerting = Gauge(
            "fleet_kiosks_alerting", "Kiosks with at least one open alert", registry=r
        )
        self.notifications = Counter(
            "fleet_notifications", "Alert notifications sent", ["channel"], registry=r
        )
        self.notification_failures = Counter(
            "fleet_notification_failures",
            "Alert notifications that failed",
            ["channel"],
            registry=r,
        )
        self.commands = Counter(
            "fleet_commands", "Commands sent to kiosks", ["command"], registry=r
        )
