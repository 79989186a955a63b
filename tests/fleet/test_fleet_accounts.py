"""Accounts (SQLite and PostgreSQL): argon2 hashes, sessions that end, the audit."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from fleet import schema, views
from fleet.accounts import (
    FAILURE_WINDOW,
    MAX_FAILURES,
    AccountError,
    Accounts,
    Role,
    SessionLimits,
)

PASSWORD = "a long enough password"


@pytest.fixture
def accounts(store) -> Accounts:
    made = Accounts(store, SessionLimits(idle=60, lifetime=600))
    made.add_user("anna.it", Role.OPERATOR, PASSWORD, 0)
    return made


def test_passwords_are_kept_as_argon2_hashes_only(accounts, store):
    with store.reading() as db:
        (stored,) = db.execute(select(schema.users.c.password_hash)).scalars()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored


def test_sign_in_and_the_session_ends_when_idle_or_old(accounts):
    assert accounts.sign_in("anna.it", "wrong password here", 1) is None
    assert accounts.sign_in("nobody", PASSWORD, 1) is None
    token = accounts.sign_in("anna.it", PASSWORD, 1)
    session = accounts.session(token, 50)
    assert session is not None and session.role is Role.OPERATOR and session.csrf
    assert accounts.session(token, 109) is not None  # used at 50: idle limit from then
    assert accounts.session(token, 170) is None  # 61 s idle
    other = accounts.sign_in("anna.it", PASSWORD, 1)
    for moment in range(50, 600, 50):
        assert accounts.session(other, moment) is not None
    assert accounts.session(other, 602) is None  # older than the lifetime
    assert accounts.session("made-up-token", 2) is None


def test_a_new_password_or_removal_ends_the_users_sessions(accounts):
    token = accounts.sign_in("anna.it", PASSWORD, 1)
    accounts.set_password("anna.it", "another long password", 2)
    assert accounts.session(token, 3) is None
    token = accounts.sign_in("anna.it", "another long password", 4)
    accounts.remove_user("anna.it", 5)
    assert accounts.session(token, 6) is None
    assert accounts.users() == []


def test_bad_names_short_passwords_and_duplicates_are_refused(accounts):
    with pytest.raises(AccountError, match="at least 12"):
        accounts.add_user("bo", Role.VIEWER, "short", 0)
    with pytest.raises(AccountError, match="user name"):
        accounts.add_user("bo/../x", Role.VIEWER, PASSWORD, 0)
    with pytest.raises(AccountError, match="already"):
        accounts.add_user("anna.it", Role.VIEWER, PASSWORD, 0)
    with pytest.raises(AccountError, match="no user"):
        accounts.set_role("ghost", Role.VIEWER, 0)


def test_sign_ins_and_refusals_are_audited(accounts, store):
    accounts.sign_in("anna.it", "wrong password here", 1)
    accounts.sign_in("anna.it", PASSWORD, 2)
    actions = [(a["action"], a["user"]) for a in views.audit(store)]
    assert actions[:2] == [("signed-in", "anna.it"), ("sign-in-refused", None)]


def test_guessing_a_password_pauses_that_user_name(accounts):
    for moment in range(MAX_FAILURES):
        assert accounts.sign_in("anna.it", "not her password", moment) is None
    assert accounts.sign_in("anna.it", PASSWORD, 20) is None  # even the right one, for now
    assert accounts.sign_in("anna.it", PASSWORD, 20 + FAILURE_WINDOW) is not None


def test_guessing_elsewhere_does_not_keep_a_user_out_of_her_own_browser(accounts):
    device = accounts.trust_device("anna.it", None, 0)  # she signed in here before
    for moment in range(MAX_FAILURES):  # someone else guesses, from anywhere
        assert accounts.sign_in("anna.it", "not her password", moment + 1) is None
    assert accounts.sign_in("anna.it", PASSWORD, 20) is None  # paused for unknown browsers
    assert accounts.sign_in("anna.it", PASSWORD, 20, device) is not None  # not in hers
    assert accounts.trust_device("anna.it", device, 21) == device  # her browser stays known


def test_guessing_in_a_known_browser_pauses_that_browser_and_no_other(accounts):
    accounts.add_user("bo.it", Role.VIEWER, PASSWORD, 0)
    stolen = accounts.trust_device("anna.it", None, 0)
    other = accounts.trust_device("anna.it", None, 0)
    for moment in range(MAX_FAILURES):
        assert accounts.sign_in("anna.it", "not her password", moment + 1, stolen) is None
    assert accounts.sign_in("anna.it", PASSWORD, 20, stolen) is None
    assert accounts.sign_in("anna.it", PASSWORD, 20, other) is not None
    assert accounts.sign_in("anna.it", PASSWORD, 20) is not None  # unknown browsers: no tries
    # Anna's device cookie is nothing to another user, and a new password forgets it.
    for moment in range(MAX_FAILURES):
        accounts.sign_in("bo.it", "not his password", moment + 1)
    assert accounts.sign_in("bo.it", PASSWORD, 20, other) is None
    accounts.set_password("anna.it", "another long password", 30)
    assert accounts.trust_device("anna.it", other, 31) != other
