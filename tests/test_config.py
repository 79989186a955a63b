"""The kiosk configuration file: valid files load, every mistake names its key."""

from __future__ import annotations

import pytest

from kiosk.config import ConfigError, load, parse

GOOD = """
[kiosk]
id = "kiosk-entre-a"
location = "Entré A, Testsjukhuset"
language = "sv"

[card_service]
url = "https://cardservice.example:8443/"
ca_file = "/etc/siths-kiosk/cardservice-ca.pem"
client_cert = "/var/lib/siths-kiosk/device.pem"
client_key = "/var/lib/siths-kiosk/device.key"
read_timeout = 8

[cards]
trust_anchors = ["/etc/siths-kiosk/siths-root.pem"]
puk_margin = 3

[timeouts]
pin = 60
"""


def test_a_good_file_loads():
    config = parse(GOOD)
    assert config.kiosk_id == "kiosk-entre-a"
    assert config.card_service.url == "https://cardservice.example:8443"
    assert config.card_service.read_timeout == 8.0
    assert config.timeouts == {"pin": 60.0}
    assert config.fullscreen is True
    assert config.provisioned is False  # the files are not there: "not provisioned"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('id = "kiosk-entre-a"', ""), "kiosk.id: missing"),
        (('language = "sv"', 'language = "fi"'), "kiosk.language"),
        (("read_timeout = 8", 'read_timeout = "8"'), "card_service.read_timeout: must be a float"),
        (("read_timeout = 8", "read_timeout = 0"), "card_service.read_timeout: must be a number"),
        (('url = "https://cardservice.example:8443/"', 'url = "http://x"'), "card_service.url"),
        (("puk_margin = 3", "puk_margin = 0"), "cards.puk_margin"),
        (("puk_margin = 3", "puk_margin = true"), "cards.puk_margin: must be a int"),
        (("pin = 60", "pni = 60"), "timeouts.pni: unknown key"),
        (("[cards]", "[cardz]"), "cards: missing table"),
        (('ca_file = "/etc', 'ca_file = "etc'), "card_service.ca_file: must be an absolute path"),
        (
            ('trust_anchors = ["/etc/siths-kiosk/siths-root.pem"]', "trust_anchors = []"),
            "cards.trust_anchors",
        ),
        (("[kiosk]", "[kiosk]\nfulscreen = false"), "kiosk.fulscreen: unknown key"),
    ],
)
def test_each_mistake_names_the_key(change, message):
    broken = GOOD.replace(*change)
    with pytest.raises(ConfigError) as error:
        parse(broken)
    assert message in str(error.value)


def test_not_toml_at_all():
    with pytest.raises(ConfigError, match="not valid TOML"):
        parse("[kiosk\nid=")


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load(tmp_path / "kiosk.toml")


def test_provisioned_when_the_files_exist(tmp_path):
    for name in ("ca.pem", "device.pem", "device.key", "root.pem"):
        (tmp_path / name).write_text("x")
    text = (
        GOOD.replace("/etc/siths-kiosk/cardservice-ca.pem", str(tmp_path / "ca.pem"))
        .replace("/var/lib/siths-kiosk/device.pem", str(tmp_path / "device.pem"))
        .replace("/var/lib/siths-kiosk/device.key", str(tmp_path / "device.key"))
        .replace("/etc/siths-kiosk/siths-root.pem", str(tmp_path / "root.pem"))
    )
    assert parse(text).provisioned
