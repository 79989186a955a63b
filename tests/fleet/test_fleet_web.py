"""The dashboard's HTTP side: nobody gets in without signing in; commands need an operator,
the CSRF token and reach the kiosk through the broker, audited; sessions expire; the
live stream tells of changes; Prometheus metrics."""

from __future__ import annotations

import threading
import time

import pytest
import requests

from fleet import views
from fleet.accounts import MAX_FAILURES, Role, SessionLimits
from protocol import telemetry as tm
from tests.fleet.conftest import start_fleet
from tests.harness.waiting import wait_for

PASSWORD = "correct horse battery staple"
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def fleet(store, fleet_broker, fleet_pki):
    server = start_fleet(store, fleet_broker, fleet_pki, sessions=SessionLimits(idle=300))
    server.accounts.add_user("olle.op", Role.OPERATOR, PASSWORD, time.time())
    server.accounts.add_user("vera.view", Role.VIEWER, PASSWORD, time.time())
    yield server
    server.stop()


def signed_in(fleet, name: str) -> tuple[requests.Session, str]:
    session = requests.Session()
    answer = session.post(
        fleet.url + "/login", data={"name": name, "password": PASSWORD, "next": "/alerts"}
    )
    assert answer.url.endswith("/alerts") and answer.ok
    return session, session.get(fleet.url + "/api/me").json()["csrf"]


PAGES = ["/", "/alerts", "/kiosks/kiosk-1"]
API = ["/api/me", "/api/fleet", "/api/kiosks/kiosk-1", "/api/events", "/api/alerts", "/api/audit"]


def test_nobody_gets_in_without_signing_in(fleet):
    for path in PAGES:
        answer = requests.get(fleet.url + path, allow_redirects=False)
        assert answer.status_code == 303 and answer.headers["Location"].startswith("/login?next=")
    for path in [*API, "/api/stream", "/metrics"]:
        assert requests.get(fleet.url + path).status_code == 401, path
    for what in ("maintenance", "rebirth"):
        answer = requests.post(f"{fleet.url}/api/kiosks/kiosk-1/{what}", json={"on": True})
        assert answer.status_code == 401
    fake = {"fleet_session": "made-up"}
    assert requests.get(fleet.url + "/api/fleet", cookies=fake).status_code == 401
    assert requests.get(fleet.url + "/login").ok
    assert requests.get(fleet.url + "/static/app.js").ok
    assert requests.get(fleet.url + "/static/vendor/uPlot.iife.min.js").ok


def test_sign_in_sets_a_strict_cookie_and_refuses_wrong_passwords(fleet):
    wrong = requests.post(fleet.url + "/login", data={"name": "olle.op", "password": "nope"})
    assert wrong.status_code == 401 and "Wrong user name or password" in wrong.text
    answer = requests.post(
        fleet.url + "/login",
        data={"name": "olle.op", "password": PASSWORD, "next": "//elsewhere.example/x"},
        allow_redirects=False,
    )
    assert answer.headers["Location"] == "/"  # never sent off-site
    cookies = answer.raw.headers.getlist("Set-Cookie")
    assert {c.split("=")[0] for c in cookies} == {"fleet_session", "fleet_device"}
    assert all("HttpOnly" in c and "SameSite=Strict" in c for c in cookies)
    page = requests.get(fleet.url + "/", cookies=answer.cookies)
    assert "script-src" not in page.headers["Content-Security-Policy"]  # default-src 'self'
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]


def test_a_maintenance_command_reaches_the_kiosk_and_is_audited(fleet, voice):
    kiosk = voice("kiosk-1")
    kiosk.birth()
    wait_for(lambda: views.kiosk_exists(fleet.store, "kiosk-1"), timeout=10, what="the kiosk")
    viewer, viewer_csrf = signed_in(fleet, "vera.view")
    operator, csrf = signed_in(fleet, "olle.op")
    url = fleet.url + "/api/kiosks/kiosk-1/maintenance"
    refused = viewer.post(url, json={"on": True}, headers={"X-CSRF-Token": viewer_csrf})
    assert refused.status_code == 403 and "operator" in refused.json()["error"]
    assert operator.post(url, json={"on": True}).status_code == 403  # no CSRF token
    assert operator.post(url, json={"on": "yes"}, headers={"X-CSRF-Token": csrf}).status_code == 400
    unknown = fleet.url + "/api/kiosks/kiosk-9/maintenance"
    assert (
        operator.post(unknown, json={"on": True}, headers={"X-CSRF-Token": csrf}).status_code == 404
    )
    answer = operator.post(url, json={"on": True}, headers={"X-CSRF-Token": csrf})
    assert answer.status_code == 202
    command_id = answer.json()["id"]
    wait_for(lambda: kiosk.received_commands(), timeout=10, what="the command at the kiosk")
    ((name, order),) = kiosk.received_commands()
    assert (name, order.id, order.on, order.by) == ("maintenance", command_id, True, "olle.op")
    (entry,) = [a for a in views.audit(fleet.store) if a["command_id"] == command_id]
    assert (entry["user"], entry["kiosk"], entry["detail"], entry["done_at"]) == (
        "olle.op",
        "kiosk-1",
        "maintenance on",
        None,
    )
    kiosk.event("command-done", detail=f"maintenance {command_id}")
    wait_for(
        lambda: views.audit(fleet.store, kiosk="kiosk-1")[0]["done_at"],
        timeout=10,
        what="the kiosk's answer in the audit",
    )


def test_a_session_ends_after_its_idle_time(fleet):
    session, _ = signed_in(fleet, "olle.op")
    assert session.get(fleet.url + "/api/fleet").ok
    context = fleet.web.context
    real = context.clock
    context.clock = lambda: real() + 301
    try:
        assert session.get(fleet.url + "/api/fleet").status_code == 401
    finally:
        context.clock = real


def test_the_stream_tells_open_dashboards_of_changes(fleet, voice):
    session, _ = signed_in(fleet, "vera.view")
    seen: list[str] = []
    stream = session.get(fleet.url + "/api/stream", stream=True, timeout=30)
    assert stream.headers["Content-Type"].startswith("text/event-stream")

    def read() -> None:
        try:
            for line in stream.iter_lines(chunk_size=1, decode_unicode=True):
                seen.append(line)
        except (AttributeError, requests.RequestException):
            pass  # closed by the test

    threading.Thread(target=read, daemon=True).start()
    wait_for(lambda: "event: change" in seen, timeout=10, what="the first change")
    before = seen.count("event: change")
    voice("kiosk-2").birth()
    wait_for(lambda: seen.count("event: change") > before, timeout=10, what="a change pushed")
    stream.close()


def test_metrics_for_a_signed_in_user_or_a_bearer_token(fleet, store, fleet_broker, fleet_pki):
    session, _ = signed_in(fleet, "vera.view")
    text = session.get(fleet.url + "/metrics").text
    assert "fleet_messages_received_total" in text and "fleet_kiosks" in text
    fleet.web.context.metrics_token = "scrape-token"
    assert (
        requests.get(fleet.url + "/metrics", headers={"Authorization": "Bearer nope"}).status_code
        == 401
    )
    answer = requests.get(fleet.url + "/metrics", headers={"Authorization": "Bearer scrape-token"})
    assert answer.ok and "fleet_events_stored_total" in answer.text
    assert tm.ROOT not in answer.text  # counts, not telemetry


def test_someone_guessing_cannot_keep_facility_it_out_of_their_own_browser(fleet):
    own_browser, _ = signed_in(fleet, "olle.op")  # signed in here before
    own_browser.post(
        fleet.url + "/logout", data={"csrf": own_browser.get(fleet.url + "/api/me").json()["csrf"]}
    )
    for _ in range(MAX_FAILURES):
        guess = requests.post(fleet.url + "/login", data={"name": "olle.op", "password": "x" * 12})
        assert guess.status_code == 401
    elsewhere = requests.post(fleet.url + "/login", data={"name": "olle.op", "password": PASSWORD})
    assert elsewhere.status_code == 401  # paused where Olle has not signed in before
    again = own_browser.post(fleet.url + "/login", data={"name": "olle.op", "password": PASSWORD})
    assert again.ok and own_browser.get(fleet.url + "/api/me").json()["user"] == "olle.op"


def test_cookies_that_are_not_utf8_are_wrong_cookies_not_server_errors(fleet):
    # Any client may send any bytes; what cannot be decoded is simply no valid cookie.
    garbled = {"Cookie": "fleet_device=\xff\xfe"}  # sent as the bytes ff fe
    answer = requests.post(
        fleet.url + "/login", data={"name": "olle.op", "password": PASSWORD}, headers=garbled
    )
    assert answer.ok and answer.url == fleet.url + "/"
    assert (
        requests.get(fleet.url + "/api/me", headers={"Cookie": "fleet_session=\xff"}).status_code
        == 401
    )
