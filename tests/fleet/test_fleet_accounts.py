"""Accounts (SQLite and PostgreSQL): argon2 hashes, sessions that end, the audit."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

import fleet.accounts
from fleet import schema, views
from fleet.accounts import (
    DEVICE_LIFETIME,
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


def browser_of(accounts: Accounts, name: str, now: float) -> str | None:
    """The device cookie of a browser ``name`` signs in from at ``now`` for the first time."""
    return accounts.trust_device(accounts.sign_in(name, PASSWORD, now), None, now)


def test_guessing_elsewhere_does_not_keep_a_user_out_of_her_own_browser(accounts):
    device = browser_of(accounts, "anna.it", 0)  # she signed in here before
    for moment in range(MAX_FAILURES):  # someone else guesses, from anywhere
        assert accounts.sign_in("anna.it", "not her password", moment + 1) is None
    assert accounts.sign_in("anna.it", PASSWORD, 20) is None  # paused for unknown browsers
    token = accounts.sign_in("anna.it", PASSWORD, 20, device)
    assert token is not None  # not in hers
    assert accounts.trust_device(token, device, 21) == device  # her browser stays known


def test_guessing_in_a_known_browser_pauses_that_browser_and_no_other(accounts):
    accounts.add_user("bo.it", Role.VIEWER, PASSWORD, 0)
    stolen = browser_of(accounts, "anna.it", 0)
    other = browser_of(accounts, "anna.it", 0)
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
    token = accounts.sign_in("anna.it", "another long password", 31, other)
    assert accounts.trust_device(token, other, 31) != other


def guessed_at(accounts: Accounts, name: str, start: float) -> None:
    """Someone elsewhere tries enough wrong passwords for ``name`` to pause it."""
    for moment in range(MAX_FAILURES):
        assert accounts.sign_in(name, "not the password", start + moment) is None


def test_a_browser_she_keeps_signing_in_from_stays_known(accounts):
    device = browser_of(accounts, "anna.it", 0)
    last = DEVICE_LIFETIME - 60  # she signs in there now and then, last a minute before...
    assert accounts.trust_device(accounts.sign_in("anna.it", PASSWORD, last), device, last)
    later = DEVICE_LIFETIME + 60  # ...180 days after her first sign-in there
    accounts.forget_expired(later)
    guessed_at(accounts, "anna.it", later)
    assert accounts.sign_in("anna.it", PASSWORD, later + 20, device) is not None


class _Meanwhile(PasswordHasher):
    """The real hasher, which lets something else happen while it checks a password."""

    def __init__(self, meanwhile: Callable[[], object]) -> None:
        super().__init__()
        self.meanwhile: list[Callable[[], object]] = [meanwhile]

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        while self.meanwhile:
            self.meanwhile.pop()()
        return super().verify(hash, password)


@pytest.mark.parametrize("change", ["password", "removal"])
def test_a_sign_in_overlapping_a_new_password_or_removal_leaves_no_way_in(
    accounts, monkeypatch, change
):
    def admin() -> None:  # the administrator acts while Anna's old password is checked
        if change == "password":
            accounts.set_password("anna.it", "a new long password", 2)
        else:  # the name is given to someone else
            accounts.remove_user("anna.it", 2)
            accounts.add_user("anna.it", Role.VIEWER, "a new long password", 2)

    monkeypatch.setattr(fleet.accounts, "_hasher", _Meanwhile(admin))
    token = accounts.sign_in("anna.it", PASSWORD, 3)
    assert token is None or accounts.session(token, 4) is None


def test_a_browser_is_not_remembered_for_a_password_changed_during_its_sign_in(accounts):
    token = accounts.sign_in("anna.it", PASSWORD, 1)
    accounts.set_password("anna.it", "a new long password", 2)  # just before the cookie
    assert accounts.trust_device(token, None, 3) is None
