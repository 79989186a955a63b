"""Alert notifications: the webhook gets one JSON POST per raise and per clear; a refused
delivery is retried later, and two instances never send the same one twice."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from fleet.alerts import Thresholds
from fleet.metrics import Metrics
from fleet.notify import Notifier, WebhookSettings
from fleet.watch import Watcher
from tests.fleet.messages import T0, birth, health, reading

NOW = T0.timestamp()
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


class Hook:
    """A webhook receiver on loopback; answers ``status`` (changeable)."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        self.status = 200
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hook.bodies.append(json.loads(body))
                self.send_response(hook.status)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook():
    receiver = Hook()
    yield receiver
    receiver.stop()


def test_the_webhook_hears_each_raise_and_clear_once_and_failures_are_retried(store, hook):
    notifiers = [
        Notifier(store, Metrics(), webhook=WebhookSettings(hook.url), dashboard_url="https://fleet")
        for _ in range(2)
    ]
    watcher = Watcher(store, Thresholds(), notifiers[0].channels)
    sick = [reading(health(seq=n, seconds=n, reader_present=False)) for n in (1, 2)]
    store.ingest([reading(birth()), *sick])
    watcher.look(NOW + 3)
    hook.status = 503
    assert notifiers[0].send_due(NOW + 4) == 0  # refused: kept, tried again later
    assert notifiers[1].send_due(NOW + 5) == 0  # not due yet, whoever looks
    hook.status = 200
    sent = [n.send_due(NOW + 100) for n in notifiers]  # both instances look at once
    assert sum(sent) == 1
    store.ingest([reading(health(seq=3, seconds=30))])
    watcher.look(NOW + 31)
    assert sum(n.send_due(NOW + 101) for n in notifiers) == 1
    delivered = [b for b in hook.bodies if b["transition"] in ("raised", "cleared")]
    assert [b["transition"] for b in delivered] == ["raised", "raised", "cleared"]  # 1st refused
    raised = delivered[1]
    assert raised["kiosk"] == "kiosk-1" and raised["kind"] == "reader-missing"
    assert (
        raised["site"] == "Testsjukhuset" and raised["dashboard"] == "https://fleet/kiosks/kiosk-1"
    )
    assert (
        notifiers[0].metrics.registry.get_sample_value(
            "fleet_notification_failures_total", {"channel": "webhook"}
        )
        == 1
    )
