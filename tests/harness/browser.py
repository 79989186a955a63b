"""Headless Chromium (Debian's ``chromium`` and ``chromium-driver``) driven by Selenium.

The browser and its driver are the Debian packages at fixed paths, so Selenium never
looks for or downloads one of its own. It runs as root here, hence ``--no-sandbox``;
a fresh profile folder per browser; nothing reaches out to the network by itself.
"""

from __future__ import annotations

import os
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


def chromium(profile: Path, width: int = 1280, height: int = 860) -> webdriver.Chrome:
    """A headless Chromium with a window of ``width`` x ``height`` CSS pixels."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        raise RuntimeError("chromium and chromium-driver are not installed (scripts/bootstrap)")
    os.environ.setdefault("SE_AVOID_STATS", "true")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        f"--window-size={width},{height}",
        "--lang=en-GB",
    ):
        options.add_argument(argument)
    return webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
