"""The dashboard in headless Chromium over real kiosks: three ``kiosk run --headless``
children report through a real Mosquitto; the page lists them; a kiosk killed turns
offline on the page without a reload and an alert e-mail arrives; brought back, it is
online again and the clearing e-mail arrives; an operator's maintenance click reaches
the kiosk, shows on the page and is audited. Screenshots for docs/fleet-guide.md
(written to docs/screenshots/ when FLEET_SCREENSHOTS is set)."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from cardservice.service import ServiceConfig
from fleet import views
from fleet.accounts import Role
from fleet.alerts import Thresholds
from fleet.notify import MailSettings
from tests.fleet.conftest import start_fleet
from tests.fleet.kiosk_processes import KioskChild
from tests.harness.browser import chromium
from tests.harness.cardservice import CardServiceHarness
from tests.harness.waiting import wait_for

pytestmark = [pytest.mark.pcsc, pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)]
PASSWORD = "correct horse battery staple"
PLACES = {
    "kiosk-1": ("Testsjukhuset", "Entré A"),
    "kiosk-2": ("Testsjukhuset", "Entré B"),
    "kiosk-3": ("Närsjukhuset Väst", "Reception"),
}
DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture
def kiosks(tmp_path, fleet_broker, fleet_pki, siths_pki, smtp_sink, pcscd):
    service = CardServiceHarness(tmp_path / "cs", fleet_pki, smtp_sink, ServiceConfig())
    for kiosk, (site, location) in PLACES.items():
        service.store.add_kiosk(kiosk, f"{location}, {site}")
    trust = tmp_path / "siths-trust.pem"
    trust.write_bytes(siths_pki.anchors_pem() + siths_pki.intermediates_pem())
    children = {
        kiosk: KioskChild.configure(
            kiosk,
            tmp_path / kiosk,
            pki=fleet_pki,
            card_service=service.url,
            broker_port=fleet_broker.port,
            trust=trust,
            site=site,
            location=location,
            environment=pcscd.environment(),
        )
        for kiosk, (site, location) in PLACES.items()
    }
    yield children
    for child in children.values():
        child.stop()
    service.stop()


@pytest.fixture
def browser(tmp_path):
    driver = chromium(tmp_path / "chromium-profile")
    yield driver
    driver.quit()


def waiting(driver, seconds: float = 30) -> WebDriverWait:
    ignored = (NoSuchElementException, StaleElementReferenceException)
    return WebDriverWait(driver, seconds, poll_frequency=0.1, ignored_exceptions=ignored)


def row_status(driver, kiosk: str) -> str:
    return driver.find_element(By.CSS_SELECTOR, f'tr[data-kiosk="{kiosk}"] .badge').text


def click_if(driver, element_id: str, text: str) -> bool:
    """Click the element once it says ``text``; the page redraws it live, so look it up anew."""
    button = driver.find_element(By.ID, element_id)
    if button.text != text:
        return False
    button.click()
    return True


def subjects(smtp_sink) -> list[str]:
    return [str(message["Subject"]) for message in smtp_sink.messages]


def shoot(driver, folder: Path, name: str, width: int, height: int) -> None:
    driver.set_window_size(width, height)
    waiting(driver).until(lambda d: d.find_element(By.ID, "live").text.startswith("Live"))
    path = folder / name
    driver.save_screenshot(str(path))
    assert path.stat().st_size > 10_000  # a page, not a blank
    if os.environ.get("FLEET_SCREENSHOTS"):
        shutil.copy(path, DOCS / name)


def test_the_dashboard_follows_real_kiosks_live(
    tmp_path, store, fleet_broker, fleet_pki, kiosks, browser, smtp_sink, make_siths_slot
):
    smtp_sink.clear()
    mail = MailSettings("127.0.0.1", smtp_sink.port, "fleet@example.org", ("it@example.org",))
    fleet = start_fleet(
        store, fleet_broker, fleet_pki, thresholds=Thresholds(offline_after=1), mail=mail
    )
    fleet.notifier.interval = 0.2
    fleet.accounts.add_user("olle.op", Role.OPERATOR, PASSWORD, time.time())
    try:
        for child in kiosks.values():
            child.start()
        wait_for(
            lambda: views.fleet(store, time.time())["counts"]["online"] == 3,
            timeout=60,
            what="three kiosks online",
        )
        slot = make_siths_slot(identification_tries_left=0)  # someone tries a blocked card
        wait_for(
            lambda: views.events(store, kiosk="kiosk-1", kind="session-started"),
            timeout=30,
            what="a session at the kiosks",
        )
        slot.remove()
        wait_for(
            lambda: views.events(store, kiosk="kiosk-1", kind="session-ended"),
            timeout=30,
            what="the card out again",
        )
        print([(e["kiosk"], e["kind"], e.get("reason")) for e in views.events(store)])

        browser.get(fleet.url + "/")
        assert "/login" in browser.current_url  # nothing without signing in
        browser.find_element(By.NAME, "name").send_keys("olle.op")
        browser.find_element(By.NAME, "password").send_keys(PASSWORD)
        browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        waiting(browser).until(lambda d: all(row_status(d, kiosk) == "online" for kiosk in PLACES))
        shots = tmp_path / "shots"
        shots.mkdir()
        browser.execute_script("window.notReloaded = true;")

        kiosks["kiosk-2"].kill()
        waiting(browser).until(lambda d: row_status(d, "kiosk-2") == "offline")
        assert browser.execute_script("return window.notReloaded === true;")  # live, no reload
        assert row_status(browser, "kiosk-1") == "online"
        wait_for(
            lambda: any("RAISED offline: kiosk-2" in s for s in subjects(smtp_sink)),
            timeout=30,
            what="the offline alert e-mail",
        )
        shoot(browser, shots, "fleet-01-overview.png", 1280, 720)

        kiosks["kiosk-2"].start()
        waiting(browser, 60).until(lambda d: row_status(d, "kiosk-2") == "online")
        wait_for(
            lambda: any("CLEARED offline: kiosk-2" in s for s in subjects(smtp_sink)),
            timeout=30,
            what="the clearing e-mail",
        )
        raised = [s for s in subjects(smtp_sink) if "offline: kiosk-2" in s]
        assert len(raised) == 2  # once raised, once cleared: not once per sample

        browser.get(fleet.url + "/kiosks/kiosk-1")
        waiting(browser).until(lambda d: click_if(d, "maintenance", "Maintenance mode"))
        waiting(browser).until(
            lambda d: d.find_element(By.CSS_SELECTOR, "h1 .badge").text == "maintenance"
        )
        waiting(browser).until(
            lambda d: "done by the kiosk" in d.find_element(By.CSS_SELECTOR, "ul.audit").text
        )
        (entry,) = [a for a in views.audit(store, kiosk="kiosk-1") if a["action"] == "command"]
        assert (entry["user"], entry["detail"]) == ("olle.op", "maintenance on")
        assert entry["done_at"] is not None
        assert browser.find_elements(By.CSS_SELECTOR, ".chart canvas")  # uPlot drew
        shoot(browser, shots, "fleet-02-kiosk.png", 1280, 1500)

        browser.get(fleet.url + "/alerts")
        waiting(browser).until(
            lambda d: "offline" in d.find_element(By.CSS_SELECTOR, "table.alerts").text
        )
        shoot(browser, shots, "fleet-03-alerts.png", 1280, 720)
        browser.get(fleet.url + "/")
        waiting(browser).until(lambda d: row_status(d, "kiosk-1") == "maintenance")
        shoot(browser, shots, "fleet-04-phone.png", 390, 1100)
    except Exception:
        for child in kiosks.values():
            print(f"--- {child.kiosk_id}\n{child.log[-3000:]}")
        raise
    finally:
        fleet.stop()
