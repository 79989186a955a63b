"""The kiosk configuration file: valid files load, every mistake names its key."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from pydantic import ValidationError

from kiosk.appliance import flow_config
from kiosk.config import ConfigError, load, parse, render
from kiosk.flow.machine import FlowConfig, Timeouts
from protocol.card_rules import PUK_SAFETY_MARGIN

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

MINIMAL = """
[kiosk]
id = "k"
location = "x"
[card_service]
url = "https://cs.example"
ca_file = "/ca.pem"
client_cert = "/d.pem"
client_key = "/d.key"
[cards]
trust_anchors = ["/root.pem"]
"""


def test_a_good_file_loads():
    config = parse(GOOD)
    assert config.kiosk_id == "kiosk-entre-a"
    assert config.location == "Entré A, Testsjukhuset"
    assert config.card_service.url == "https://cardservice.example:8443"
    assert config.card_service.read_timeout == 8.0
    assert config.card_service.ca_file == Path("/etc/siths-kiosk/cardservice-ca.pem")
    assert config.trust_anchors == (Path("/etc/siths-kiosk/siths-root.pem"),)
    assert config.timeouts == Timeouts(pin=60.0)
    assert config.fullscreen is True
    assert config.provisioned is False  # the files are not there: "not provisioned"


def test_left_out_keys_take_their_defaults():
    config = parse(MINIMAL)
    assert config.language == "sv"
    assert config.fullscreen is True
    assert config.scramble_keypad is False
    assert config.card_service.connect_timeout == 3.05
    assert config.card_service.read_timeout == 10.0
    assert config.puk_margin == PUK_SAFETY_MARGIN
    assert config.timeouts == Timeouts()


def test_the_flow_gets_the_timeouts_and_the_puk_margin():
    config = parse(GOOD.replace("puk_margin = 3", "puk_margin = 5"))
    assert flow_config(config) == FlowConfig(Timeouts(pin=60.0), 5)


def test_a_loaded_configuration_cannot_be_changed():
    config = parse(GOOD)
    with pytest.raises(ValidationError):
        config.kiosk.id = "another"  # type: ignore[misc]


ANCHORS = 'trust_anchors = ["/etc/siths-kiosk/siths-root.pem"]'
URL = 'url = "https://cardservice.example:8443/"'
LOCATION = 'location = "Entré A, Testsjukhuset"'
ID_MESSAGE = "kiosk.id: must be 1 to 64 letters, digits, '.', '_' or '-'"
LOCATION_MESSAGE = "kiosk.location: must be one line of text, at most 200 characters"
NOT_ANCHORS = "cards.trust_anchors: must be a list of absolute paths to PEM files"
NOT_READ = "card_service.read_timeout: must be a number between 0.1 and 120"
NOT_CONNECT = "card_service.connect_timeout: must be a number between 0.1 and 60"
NOT_MARGIN = "cards.puk_margin: must be a whole number between 1 and 9"
NOT_PIN = "timeouts.pin: must be a number between 1 and 3600"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        # missing keys and tables
        (('id = "kiosk-entre-a"', ""), "kiosk.id: missing"),
        ((LOCATION, ""), "kiosk.location: missing"),
        ((URL, ""), "card_service.url: missing"),
        ((ANCHORS, ""), "cards.trust_anchors: missing"),
        (("[cards]", "[cardz]"), "cards: missing table [cards]"),
        # [kiosk]
        (('id = "kiosk-entre-a"', 'id = ""'), ID_MESSAGE + ' (got "")'),
        (('id = "kiosk-entre-a"', 'id = "kiosk a"'), ID_MESSAGE + ' (got "kiosk a")'),
        (('id = "kiosk-entre-a"', 'id = "kiosk\\na"'), ID_MESSAGE + ' (got "kiosk\\na")'),
        ((LOCATION, 'location = "A\\nB"'), LOCATION_MESSAGE + ' (got "A\\nB")'),
        (
            (URL, 'url = "https://cardservice.example:99999/"'),
            "card_service.url: must be an https:// address",
        ),
        (
            ('id = "kiosk-entre-a"', f'id = "{"k" * 65}"'),
            ID_MESSAGE + f' (got "{"k" * 36}...)',
        ),
        (('id = "kiosk-entre-a"', "id = 7"), ID_MESSAGE + " (got 7)"),
        (('language = "sv"', 'language = "fi"'), 'kiosk.language: must be "sv" or "en" (got "fi")'),
        (('language = "sv"', 'language = "SV"'), 'kiosk.language: must be "sv" or "en" (got "SV")'),
        ((LOCATION, "location = 5"), LOCATION_MESSAGE + " (got 5)"),
        ((LOCATION, 'location = ["A"]'), LOCATION_MESSAGE + " (got a list)"),
        (
            ('language = "sv"', 'fullscreen = "yes"'),
            'kiosk.fullscreen: must be true or false (got "yes")',
        ),
        (
            ('language = "sv"', "scramble_keypad = 1"),
            "kiosk.scramble_keypad: must be true or false (got 1)",
        ),
        (("[kiosk]", "[kiosk]\nfulscreen = false"), "kiosk.fulscreen: unknown key (misspelt?)"),
        # [card_service]
        (("read_timeout = 8", 'read_timeout = "8"'), f'{NOT_READ} (got "8")'),
        (("read_timeout = 8", "read_timeout = 0"), f"{NOT_READ} (got 0)"),
        (("read_timeout = 8", "read_timeout = 120.5"), f"{NOT_READ} (got 120.5)"),
        (("read_timeout = 8", "read_timeout = true"), f"{NOT_READ} (got true)"),
        (("read_timeout = 8", "connect_timeout = 61"), f"{NOT_CONNECT} (got 61)"),
        (("read_timeout = 8", "connect_timeout = nan"), f"{NOT_CONNECT} (got nan)"),
        (
            (URL, 'url = "http://cardservice.example"'),
            "card_service.url: must be an https:// address such as "
            'https://cardservice.example.org:8443 (got "http://cardservice.example")',
        ),
        ((URL, 'url = "https://"'), "card_service.url: must be an https:// address"),
        ((URL, 'url = "https://a b"'), "card_service.url: must be an https:// address"),
        (
            ('ca_file = "/etc', 'ca_file = "etc'),
            "card_service.ca_file: must be an absolute path "
            '(got "etc/siths-kiosk/cardservice-ca.pem")',
        ),
        (
            ('client_cert = "/var/lib/siths-kiosk/device.pem"', 'client_cert = ""'),
            'card_service.client_cert: must be an absolute path (got "")',
        ),
        (
            ('client_key = "/var', 'client_key = "./var'),
            "card_service.client_key: must be an absolute path",
        ),
        (
            ("read_timeout = 8", "readtimeout = 8"),
            "card_service.readtimeout: unknown key (misspelt?)",
        ),
        # [cards]
        ((ANCHORS, "trust_anchors = []"), f"{NOT_ANCHORS} (got an empty list)"),
        (
            (ANCHORS, 'trust_anchors = "/etc/siths-kiosk/siths-root.pem"'),
            f'{NOT_ANCHORS} (got "/etc/siths-kiosk/siths-root.pem")',
        ),
        (
            (ANCHORS, 'trust_anchors = ["/etc/root.pem", "issuing.pem"]'),
            f'{NOT_ANCHORS} (got "issuing.pem")',
        ),
        ((ANCHORS, 'trust_anchors = ["/etc/root.pem", 2]'), f"{NOT_ANCHORS} (got 2)"),
        (("puk_margin = 3", "puk_margin = 0"), f"{NOT_MARGIN} (got 0)"),
        (("puk_margin = 3", "puk_margin = 10"), f"{NOT_MARGIN} (got 10)"),
        (("puk_margin = 3", "puk_margin = 3.0"), f"{NOT_MARGIN} (got 3.0)"),
        (("puk_margin = 3", "puk_margin = true"), f"{NOT_MARGIN} (got true)"),
        (("puk_margin = 3", "puk_marign = 3"), "cards.puk_marign: unknown key (misspelt?)"),
        # [timeouts]
        (("pin = 60", "pni = 60"), "timeouts.pni: unknown key (misspelt?)"),
        (("pin = 60", "pin = 0.5"), f"{NOT_PIN} (got 0.5)"),
        (("pin = 60", "pin = 3601"), f"{NOT_PIN} (got 3601)"),
        (("pin = 60", "pin = -60"), f"{NOT_PIN} (got -60)"),
        (("pin = 60", 'pin = "60"'), f'{NOT_PIN} (got "60")'),
        (
            ("pin = 60", "session_ceiling = 10:00:00"),
            "timeouts.session_ceiling: must be a number between 1 and 3600 (got 10:00:00)",
        ),
        # the file itself
        (("[timeouts]", "[timeout]"), "timeout: unknown key (misspelt?)"),
    ],
)
def test_each_mistake_names_the_key_on_one_line(change, message):
    broken = GOOD.replace(*change)
    with pytest.raises(ConfigError) as error:
        parse(broken)
    text = str(error.value)
    assert text.startswith(message)
    assert "\n" not in text
    assert "Input should" not in text  # pydantic's words are not the technician's


def test_a_table_written_as_a_value_is_refused():
    without_timeouts = GOOD.replace("[timeouts]\npin = 60", "")
    with pytest.raises(ConfigError, match=r"^timeouts: must be a table \(got 60\)$"):
        parse("timeouts = 60\n" + without_timeouts)
    with pytest.raises(ConfigError, match=r"^timeouts: must be a table \(got a list\)$"):
        parse(without_timeouts + "[[timeouts]]\npin = 60\n")


@pytest.mark.parametrize(
    ("change", "check"),
    [
        (("read_timeout = 8", "read_timeout = 0.1"), lambda c: c.card_service.read_timeout == 0.1),
        (("read_timeout = 8", "read_timeout = 120"), lambda c: c.card_service.read_timeout == 120),
        (
            ("read_timeout = 8", "connect_timeout = 60"),
            lambda c: c.card_service.connect_timeout == 60,
        ),
        (("puk_margin = 3", "puk_margin = 1"), lambda c: c.puk_margin == 1),
        (("puk_margin = 3", "puk_margin = 9"), lambda c: c.puk_margin == 9),
        (("pin = 60", "pin = 1"), lambda c: c.timeouts.pin == 1),
        (("pin = 60", "session_ceiling = 3600"), lambda c: c.timeouts.session_ceiling == 3600),
        (('language = "sv"', 'language = "en"'), lambda c: c.language == "en"),
        (('id = "kiosk-entre-a"', f'id = "{"k" * 64}"'), lambda c: len(c.kiosk_id) == 64),
        (('language = "sv"', "scramble_keypad = true"), lambda c: c.scramble_keypad is True),
        ((LOCATION, 'location = ""'), lambda c: c.location == ""),
    ],
)
def test_values_at_the_limits_are_accepted(change, check):
    assert check(parse(GOOD.replace(*change)))


def test_with_several_mistakes_the_first_is_named_the_same_every_time():
    broken = (
        GOOD.replace('language = "sv"', 'language = "fi"')
        .replace("read_timeout = 8", "read_timeout = 0")
        .replace("pin = 60", "pni = 60")
        + "\n[extra]\n"
    )
    messages = set()
    for _ in range(3):
        with pytest.raises(ConfigError) as error:
            parse(broken)
        messages.add(str(error.value))
    assert messages == {'kiosk.language: must be "sv" or "en" (got "fi")'}
    # Tables in their order, a table's keys in their order, then unknown keys.
    with pytest.raises(ConfigError, match=r"^kiosk: missing table \[kiosk\]$"):
        parse("")
    with pytest.raises(ConfigError, match=r"^card_service\.url: missing$"):
        parse(GOOD.replace("url =", "urll ="))


def test_not_toml_at_all():
    with pytest.raises(ConfigError, match=r"^not valid TOML: "):
        parse("[kiosk\nid=")


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load(tmp_path / "kiosk.toml")


def test_load_names_the_file_and_the_key(tmp_path):
    path = tmp_path / "kiosk.toml"
    path.write_text(GOOD.replace("puk_margin = 3", "puk_margin = 0"), encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        load(path)
    assert (
        str(error.value)
        == f"{path}: cards.puk_margin: must be a whole number between 1 and 9 (got 0)"
    )


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


absolute_paths = st.text(max_size=30).map(lambda name: Path("/" + name))


@given(
    kiosk_id=st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z"),
    # No lone surrogates: they cannot be written in a UTF-8 file at all.
    location=st.text(
        alphabet=st.characters(exclude_characters="\r\n", exclude_categories=("Cs",)),
        max_size=200,
    ),
    ca_file=absolute_paths,
    client_cert=absolute_paths,
    trust_anchors=st.lists(absolute_paths, min_size=1, max_size=3),
    fullscreen=st.booleans(),
)
@example(
    kiosk_id="kiosk-A_1.x",
    location='Entré Å, "huvudentrén", plan 2 \\ hiss C',
    ca_file=Path('/etc/siths kiosk/"ca".pem'),
    client_cert=Path("/var/lib/kiosk\\device.pem"),
    trust_anchors=[Path("/etc/Åsa/root.pem"), Path("/etc/ny\nrad.pem")],
    fullscreen=False,
)
def test_what_render_writes_parse_reads_back(
    kiosk_id, location, ca_file, client_cert, trust_anchors, fullscreen
):
    config = parse(
        render(
            kiosk_id=kiosk_id,
            location=location,
            url="https://cardservice.example:8443",
            ca_file=ca_file,
            client_cert=client_cert,
            client_key=Path("/var/lib/siths-kiosk/device.key"),
            trust_anchors=trust_anchors,
            fullscreen=fullscreen,
        )
    )
    assert config.kiosk_id == kiosk_id
    assert config.location == location
    assert config.card_service.url == "https://cardservice.example:8443"
    assert config.card_service.ca_file == ca_file
    assert config.card_service.client_cert == client_cert
    assert config.trust_anchors == tuple(trust_anchors)
    assert config.fullscreen is fullscreen


def test_render_refuses_what_parse_would_refuse():
    with pytest.raises(ConfigError, match=r"^kiosk\.id: must be 1 to 64 letters"):
        render(
            kiosk_id="",
            location="x",
            url="https://cardservice.example",
            ca_file=Path("/ca.pem"),
            client_cert=Path("/d.pem"),
            client_key=Path("/d.key"),
            trust_anchors=[Path("/root.pem")],
        )


TELEMETRY = """
[telemetry]
broker = "{broker}"
ca_file = "/etc/siths-kiosk/broker-ca.pem"
card_hash_key_file = "/etc/siths-kiosk/card-hash.key"
"""


@pytest.mark.parametrize("broker", ["mqtts://broker:99999", "mqtts://broker:0", "mqtt://broker"])
def test_a_broker_address_that_cannot_work_is_a_config_error(broker):
    with pytest.raises(ConfigError, match=r"^telemetry\.broker: must be an mqtts:// address"):
        parse(GOOD + TELEMETRY.format(broker=broker))


def test_the_broker_port_defaults_to_mqtt_over_tls():
    config = parse(GOOD + TELEMETRY.format(broker="mqtts://broker.example.org"))
    assert config.telemetry.host_and_port == ("broker.example.org", 8883)
