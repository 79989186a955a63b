"""The SITHS profile against a virtual SITHS card, through real pcscd + vpcd."""

from __future__ import annotations

import pytest

from hw.errors import CardRemoved, UnsupportedCard
from hw.pcsc import PcscConnection
from hw.pins import (
    AdminKeySafetyMargin,
    CryptogramRejected,
    PinPolicyViolation,
    PukSafetyMargin,
    WrongPin,
    WrongPuk,
)
from hw.profiles import open_session
from hw.siths.session import SithsSession
from hw.siths.trust import CardProblem
from protocol.admin_key import admin_cryptogram
from protocol.reasons import Outcome
from sim.siths_pki import SithsHolder, SithsTestPki
from sim.vcard.siths_card import (
    IDENTIFICATION_PIN_LABEL as IDENT,
)
from sim.vcard.siths_card import (
    SIGNATURE_PIN_LABEL as SIGN,
)

pytestmark = pytest.mark.pcsc

ADMIN_KEY = bytes(range(16))
PUK = "12345678"


def open_siths(reader: str) -> tuple[PcscConnection, SithsSession]:
    connection = PcscConnection(reader)
    session = open_session(connection)
    assert isinstance(session, SithsSession)
    return connection, session


def service(key: bytes = ADMIN_KEY):
    """Stands in for the card service's cryptogram computation (issue 4 makes it remote)."""
    seen: list[bytes] = []

    def cryptogram_for(challenge: bytes) -> bytes:
        seen.append(challenge)
        return admin_cryptogram(key, challenge)

    cryptogram_for.challenges = seen
    return cryptogram_for


def test_reads_holder_card_and_both_pin_states(make_siths_slot, trust):
    slot = make_siths_slot(identification_tries_left=0, signature_tries_left=2, puk_tries_left=9)
    connection, session = open_siths(slot.reader)
    with connection:
        info = session.card_info(trust)
        statuses = {s.name: s for s in session.pin_statuses()}
    assert info.problems == []
    assert info.holder_name == "Anna Andersson"
    assert info.hsa_id == "SE2321000016-A1B2"
    assert info.card_number == "9752269885719985027"
    assert info.organisation == "Region Test"
    assert info.personal_identity_number == "198507122389"
    assert info.valid_to is not None and info.valid_to.year >= 2030
    assert {c.role.value for c in info.certificates} == {"identification", "signature"}
    ident, sign, puk = statuses[IDENT], statuses[SIGN], statuses["PUK"]
    assert (ident.blocked, ident.tries_left, ident.role) == (True, 0, "identification")
    assert (sign.blocked, sign.tries_left, sign.role) == (False, 2, "signature")
    assert (puk.tries_left, puk.role) == (9, "puk")


def test_card_from_unknown_ca_is_reported(make_siths_slot, trust):
    other = SithsTestPki.generate(label="OTHER")
    slot = make_siths_slot(pki=other)
    connection, session = open_siths(slot.reader)
    with connection:
        assert session.card_info(trust).problems == [CardProblem.UNTRUSTED_ISSUER]


def test_expired_card_is_reported(make_siths_slot, trust):
    slot = make_siths_slot(holder=SithsHolder().expired())
    connection, session = open_siths(slot.reader)
    with connection:
        assert session.card_info(trust).problems == [CardProblem.EXPIRED]


def test_card_without_card_number_is_reported(make_siths_slot, trust):
    slot = make_siths_slot(with_card_number=False)
    connection, session = open_siths(slot.reader)
    with connection:
        info = session.card_info(trust)
    assert info.problems == [CardProblem.NO_CARD_NUMBER]
    assert info.card_number is None


def test_unblock_by_puk_then_new_pin_verifies(make_siths_slot):
    slot = make_siths_slot(identification_tries_left=0)
    connection, session = open_siths(slot.reader)
    with connection:
        after = session.unblock_pin(IDENT, PUK, "246810", safety_margin=3)
        assert after.outcome is Outcome.UNLOCKED
        assert session.pin_state(IDENT).verified  # the unblock verified the new PIN
        session.verify(IDENT, "246810")
        with pytest.raises(WrongPin):
            session.verify(IDENT, "135790")
    assert slot.card.state.puk.tries_left == 10


def test_unblock_by_admin_key_then_new_pin_verifies(make_siths_slot):
    slot = make_siths_slot(signature_tries_left=0, admin_key=ADMIN_KEY)
    connection, session = open_siths(slot.reader)
    cryptogram_for = service()
    with connection:
        after = session.unblock_pin_with_admin_key(
            SIGN, "97531864", cryptogram_for, safety_margin=3
        )
        assert after.outcome is Outcome.UNLOCKED
        session.verify(SIGN, "97531864")
    assert len(cryptogram_for.challenges) == 1


def test_wrong_puk_reports_tries_and_leaves_the_card_usable(make_siths_slot):
    slot = make_siths_slot(identification_tries_left=0)
    connection, session = open_siths(slot.reader)
    with connection:
        with pytest.raises(WrongPuk) as wrong:
            session.unblock_pin(IDENT, "87654321", "246810", safety_margin=3)
        assert wrong.value.tries_left == 9
        assert session.unblock_pin(IDENT, PUK, "246810", safety_margin=3).outcome == "unlocked"


def test_wrong_cryptogram_is_rejected_and_the_card_stays_usable(make_siths_slot):
    slot = make_siths_slot(identification_tries_left=0, admin_key=ADMIN_KEY)
    connection, session = open_siths(slot.reader)
    with connection:
        with pytest.raises(CryptogramRejected):
            session.unblock_pin_with_admin_key(IDENT, "246810", service(bytes(16)), safety_margin=3)
        assert session.pin_statuses()[0].blocked
        session.unblock_pin_with_admin_key(IDENT, "246810", service(), safety_margin=3)
        session.verify(IDENT, "246810")


def test_replayed_cryptogram_fails_on_a_second_challenge(make_siths_slot):
    slot = make_siths_slot(identification_tries_left=0, admin_key=ADMIN_KEY)
    connection, session = open_siths(slot.reader)
    captured: list[bytes] = []

    def capturing(challenge: bytes) -> bytes:
        captured.append(admin_cryptogram(ADMIN_KEY, challenge))
        return captured[-1]

    with connection:
        session.unblock_pin_with_admin_key(IDENT, "246810", capturing, safety_margin=3)
        with pytest.raises(CryptogramRejected):
            session.unblock_pin_with_admin_key(
                IDENT, "135791", lambda _challenge: captured[0], safety_margin=3
            )
        session.verify(IDENT, "246810")  # the replay changed nothing


def test_card_removed_between_challenge_and_reset(make_siths_slot):
    slot = make_siths_slot(identification_tries_left=0, admin_key=ADMIN_KEY)
    connection, session = open_siths(slot.reader)
    stolen: list[bytes] = []

    def pull_card_out(challenge: bytes) -> bytes:
        stolen.append(admin_cryptogram(ADMIN_KEY, challenge))
        slot.remove()  # the holder pulls the card while the service answers
        return stolen[-1]

    with connection, pytest.raises(CardRemoved):
        session.unblock_pin_with_admin_key(IDENT, "246810", pull_card_out, safety_margin=3)
    assert slot.card.state.identification_pin.blocked

    slot.insert()
    connection, session = open_siths(slot.reader)
    with connection:
        # The cryptogram died with the challenge when the card lost power.
        with pytest.raises(CryptogramRejected):
            session.unblock_pin_with_admin_key(
                IDENT, "246810", lambda _challenge: stolen[0], safety_margin=3
            )
        session.unblock_pin_with_admin_key(IDENT, "246810", service(), safety_margin=3)
        session.verify(IDENT, "246810")


def test_puk_margin_stops_the_puk_mechanism(make_siths_slot):
    slot = make_siths_slot(identification_tries_left=0, puk_tries_left=3)
    connection, session = open_siths(slot.reader)
    with connection, pytest.raises(PukSafetyMargin):
        session.unblock_pin(IDENT, PUK, "246810", safety_margin=3)
    assert slot.card.state.puk.tries_left == 3
    assert slot.card.state.identification_pin.blocked


def test_admin_key_path_keeps_its_own_margin_not_the_puks(make_siths_slot):
    # The PUK at its margin does not matter: the admin-key path never uses it.
    slot = make_siths_slot(identification_tries_left=0, puk_tries_left=3, admin_key=ADMIN_KEY)
    connection, session = open_siths(slot.reader)
    with connection:
        assert session.admin_key_tries_left() == 10
        done = session.unblock_pin_with_admin_key(IDENT, "246810", service(), safety_margin=3)
        assert done.outcome is Outcome.UNLOCKED
    # Its own counter at the margin stops it before the card service is even asked.
    slot.card.state.admin_key.tries_left = 3
    slot.card.state.identification_pin.tries_left = 0
    cryptogram_for = service()
    connection, session = open_siths(slot.reader)
    with connection, pytest.raises(AdminKeySafetyMargin) as refused:
        session.unblock_pin_with_admin_key(IDENT, "135792", cryptogram_for, safety_margin=3)
    assert "ID administrator" in str(refused.value)
    assert cryptogram_for.challenges == []
    assert slot.card.state.admin_key.tries_left == 3


@pytest.mark.parametrize("bad", ["12345", "123456789", "12ab56"])
def test_new_pin_policy_is_checked_before_anything_is_spent(make_siths_slot, bad):
    slot = make_siths_slot(identification_tries_left=0)
    connection, session = open_siths(slot.reader)
    with connection, pytest.raises(PinPolicyViolation):
        session.unblock_pin(IDENT, PUK, bad, safety_margin=3)
    assert slot.card.state.puk.tries_left == 10


def test_probe_picks_the_profile_by_the_card(make_siths_slot, make_piv_slot, pcscd):
    siths = make_siths_slot(slot=0)
    piv = make_piv_slot(slot=1)
    with PcscConnection(siths.reader) as connection:
        assert open_session(connection).profile == "siths"
    with PcscConnection(piv.reader) as connection:
        assert open_session(connection).profile == "piv"


def test_probe_says_plainly_when_no_profile_fits(make_slot):
    class Unknown:
        atr = bytes.fromhex("3B8080010101")

        def power_on(self):
            pass

        power_off = reset = power_on

        def process(self, command):
            return bytes.fromhex("6D00")

    slot = make_slot(Unknown())
    with PcscConnection(slot.reader) as connection, pytest.raises(UnsupportedCard) as refused:
        open_session(connection)
    assert str(refused.value) == "unknown card (ATR 3B 80 80 01 01 01): neither SITHS nor PIV"


def test_application_found_through_ef_dir_when_the_aid_cannot_be_selected(make_siths_slot, trust):
    slot = make_siths_slot(aid_selectable=False, identification_tries_left=0)
    connection, session = open_siths(slot.reader)
    with connection:
        assert session.card_info(trust).problems == []
        session.unblock_pin(IDENT, PUK, "246810", safety_margin=3)
        session.verify(IDENT, "246810")
