"""Another site cannot sign a dashboard user's browser in as someone else (login CSRF).

In headless Chromium: Olle signs in, then opens a page elsewhere whose form posts a
sign-in to the dashboard with another user's name and password. Were it taken, Olle's
browser would work as that user, and his device cookie would be replaced by theirs, so
guessing at his name would pause him in his own browser.
"""

from __future__ import annotations

import time
from urllib.parse import quote

import pytest
from selenium.webdriver.common.by import By

from fleet.accounts import Role
from tests.fleet.conftest import start_fleet
from tests.harness.browser import chromium
from tests.harness.waiting import wait_for

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
PASSWORD = "correct horse battery staple"


def test_a_sign_in_posted_from_another_site_changes_nothing_in_the_browser(
    tmp_path, store, fleet_broker, fleet_pki
):
    fleet = start_fleet(store, fleet_broker, fleet_pki)
    browser = chromium(tmp_path / "profile")
    try:
        fleet.accounts.add_user("olle.op", Role.OPERATOR, PASSWORD, time.time())
        fleet.accounts.add_user("mallory.view", Role.VIEWER, PASSWORD, time.time())
        browser.get(fleet.url + "/login")
        browser.find_element(By.NAME, "name").send_keys("olle.op")
        browser.find_element(By.NAME, "password").send_keys(PASSWORD)
        browser.find_element(By.NAME, "password").submit()
        wait_for(lambda: browser.get_cookie("fleet_device"), what="Olle signed in")
        before = {
            name: browser.get_cookie(name)["value"] for name in ("fleet_session", "fleet_device")
        }

        elsewhere = (
            f'<form method="post" action="{fleet.url}/login">'
            '<input name="name" value="mallory.view">'
            f'<input name="password" value="{PASSWORD}"></form>'
            "<script>document.forms[0].submit()</script>"
        )
        browser.get("data:text/html," + quote(elsewhere))
        wait_for(lambda: browser.current_url.startswith(fleet.url), what="the form posted")
        assert "sign in on the dashboard's own sign-in page" in browser.page_source
        after = {
            name: browser.get_cookie(name)["value"] for name in ("fleet_session", "fleet_device")
        }
        assert after == before
        browser.get(fleet.url + "/api/me")
        assert "olle.op" in browser.page_source
    finally:
        browser.quit()
        fleet.stop()
