"""Fuzz every endpoint (hypothesis): whatever arrives, the answer is never a 500, and every
refusal is a problem document with ``type`` and ``code``.

Bodies are any JSON value, the API's own bodies with members replaced by anything,
raw bytes, and the values that once gave 500s (a lone surrogate, JSON nested 5,000 deep,
``²`` as a number); paths carry any text; half the calls come without a client certificate.
"""

from __future__ import annotations

import json

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol.credential import UnlockKey
from sim.siths_pki import SithsHolder
from tests.harness.cardservice import KIOSK_ID

HOLDER = SithsHolder()
KEY = UnlockKey().public_b64
VALID = {
    "/v1/logins": {"cardNumber": HOLDER.card_number},
    "/v1/unlocks": {
        "orderRef": "o",
        "cardNumber": HOLDER.card_number,
        "pinRole": "identification",
        "kioskPublicKey": KEY,
        "challenge": "AAAAAAAAAAAAAAAAAAAAAA==",
    },
    "/v1/unlocks/{ref}/outcome": {"result": "unlocked", "reason": "wrong-puk", "detail": "x"},
    "/v1/logins/{ref}/cancel": {},
}
ENDPOINTS = [
    ("GET", "/v1/health"),
    ("POST", "/v1/logins"),
    ("GET", "/v1/logins/{ref}"),
    ("POST", "/v1/logins/{ref}/cancel"),
    ("POST", "/v1/unlocks"),
    ("POST", "/v1/unlocks/{ref}/outcome"),
    ("GET", "/v1/nothing/{ref}"),
]
NASTY = [
    b'{"cardNumber": "\\ud800"}',
    b"[" * 5000 + b"]" * 5000,
    '{"result": "²"}'.encode(),
    b'{"orderRef": 1e999999}',
    b'{"cardNumber": "' + b"9" * 10000 + b'"}',
    b"\xff\xfe\x00",
    b"",
]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def bodies(draw, path: str) -> bytes:
    kind = draw(st.sampled_from(["json", "mutated", "raw", "nasty"]))
    if kind == "json":
        return json.dumps(draw(json_values)).encode()
    if kind == "mutated":
        body = dict(VALID.get(path, {}))
        for name in (
            draw(st.lists(st.sampled_from([*body, "extra"]), max_size=3)) if body else ["x"]
        ):
            body[name] = draw(json_values)
        return json.dumps(body).encode()
    if kind == "raw":
        return draw(st.binary(max_size=200))
    return draw(st.sampled_from(NASTY))


@st.composite
def requests_(draw):
    method, template = draw(st.sampled_from(ENDPOINTS))
    reference = draw(st.sampled_from(["known", "text"]))
    ref = "{known}" if reference == "known" else draw(st.text(min_size=1, max_size=40))
    path = template.replace("{ref}", requests.utils.quote(ref, safe="") or "x")
    body = draw(bodies(template)) if method == "POST" else b""
    key = draw(st.sampled_from([None, "not-a-uuid", "6f1c2f7e-3c1b-4e0f-9a57-2b8f8a1c0d11"]))
    return method, path, body, key, draw(st.booleans())


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory, dev_pki, smtp_sink):
    from cardservice.service import ServiceConfig
    from tests.harness.cardservice import CardServiceHarness

    harness = CardServiceHarness(
        tmp_path_factory.mktemp("fuzz"), dev_pki, smtp_sink, ServiceConfig()
    )
    harness.register(HOLDER)
    client = harness.client()
    login = client.start_login(HOLDER.card_number)
    sessions = {True: requests.Session(), False: requests.Session()}
    sessions[True].cert = (str(dev_pki.kiosk_cert(KIOSK_ID)), str(dev_pki.kiosk_key(KIOSK_ID)))
    for session in sessions.values():
        session.trust_env = False
        session.verify = str(dev_pki.service_ca)
    yield harness, sessions, login.order_ref
    harness.stop()


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(call=requests_())
def test_no_request_gets_a_500(fuzzed, call):
    harness, sessions, known = fuzzed
    method, path, body, key, with_certificate = call
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Idempotency-Key"] = key
    answer = sessions[with_certificate].request(
        method, harness.url + path.replace("%7Bknown%7D", known).replace("{known}", known),
        data=body or None, headers=headers, timeout=10,
    )  # fmt: skip
    assert answer.status_code < 500, answer.text
    if answer.status_code >= 400:
        assert answer.headers["Content-Type"] == "application/problem+json"
        problem = answer.json()
        assert problem["type"] and problem["code"]
