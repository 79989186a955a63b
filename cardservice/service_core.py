"""What every kiosk operation of the card service stands on: its parts and its checks.

Why apart: the operations (logins, credentials, outcomes) live in modules of their own
and all need the same store, vault, provider, clock and checks; they inherit them from
:class:`ServiceCore`, so no operation module imports the service that combines them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from cardservice import login_state as ls
from cardservice.answers import Once, moment
from cardservice.identity_provider import IdentityProvider
from cardservice.notices import Notices
from cardservice.problems import Problem
from cardservice.records import Card, Login, Records
from cardservice.store import Store
from cardservice.vault import Vault
from protocol import cardservice_api as api
from protocol.cardservice_values import LoginStatusValue
from protocol.login_qr import DEFAULT_PREFIX
from protocol.problems import ProblemCode


@dataclass(frozen=True)
class ServiceConfig:
    """Limits and timings of the reference service."""

    login_ttl: float = 180.0
    credential_ttl: float = 120.0
    #: Seconds after the credential is handed out before a missing outcome is called unknown.
    outcome_timeout: float = 900.0
    card_attempt_limit: int = 5
    card_attempt_window: float = 24 * 3600.0
    kiosk_login_limit: int = 60
    kiosk_login_window: float = 600.0
    poll_interval: int = 2
    qr_prefix: str = DEFAULT_PREFIX
    #: Product codes (prefixes) whose cards must be unlocked by an ID administrator.
    admin_only_products: tuple[str, ...] = field(default=("SITHS-LEGACY",))


class ServiceCore:
    """The service's parts, and the checks every operation makes."""

    def __init__(
        self,
        store: Store,
        vault: Vault,
        identity_provider: IdentityProvider,
        config: ServiceConfig | None = None,
        clock: Callable[[], float] = time.time,
        notices: Notices | None = None,
    ) -> None:
        self.store = store
        self.vault = vault
        self.idp = identity_provider
        self.config = config or ServiceConfig()
        self.clock = clock
        self.notices = notices or Notices()
        self.once = Once(store, clock)

    # -- checks --------------------------------------------------------------------------

    def check_kiosk(
        self, records: Records, kiosk_id: str, *, allow_in_maintenance: bool = False
    ) -> str:
        """The kiosk's location; refuse unknown and revoked kiosks, and new work in maintenance."""
        kiosk = records.kiosk(kiosk_id)
        if kiosk is None:
            raise Problem(ProblemCode.UNKNOWN_KIOSK, f"kiosk {kiosk_id!r} is not registered")
        if kiosk.revoked_at is not None:
            raise Problem(ProblemCode.KIOSK_REVOKED, f"kiosk {kiosk_id!r} has been revoked")
        if not allow_in_maintenance and records.get_setting("maintenance", "off") == "on":
            raise Problem(ProblemCode.MAINTENANCE)
        return kiosk.location

    def _card(self, records: Records, card_number: str, *, lock: bool = False) -> Card:
        card = records.card(card_number, lock=lock)
        if card is None:
            raise Problem(ProblemCode.CARD_NOT_REGISTERED)
        if any(card.product_code.startswith(p) for p in self.config.admin_only_products):
            raise Problem(
                ProblemCode.NEEDS_ID_ADMINISTRATOR,
                "this card's generation cannot be unlocked at a kiosk",
            )
        return card

    def _check_attempts(self, records: Records, card: Card, now: float) -> None:
        since = now - self.config.card_attempt_window
        if records.attempts_for_card(card.card_number, since) >= self.config.card_attempt_limit:
            raise Problem(
                ProblemCode.TOO_MANY_ATTEMPTS, "this card has had too many unlock attempts today"
            )

    def _check_new_login(
        self, records: Records, kiosk_id: str, card_number: str, now: float
    ) -> Card:
        self.check_kiosk(records, kiosk_id)
        card = self._card(records, card_number, lock=True)
        self._check_attempts(records, card, now)
        since = now - self.config.kiosk_login_window
        if records.logins_from_kiosk(kiosk_id, since) >= self.config.kiosk_login_limit:
            raise Problem(ProblemCode.TOO_MANY_ATTEMPTS, "this kiosk has started too many logins")
        return card

    @staticmethod
    def _kiosk_login(records: Records, kiosk_id: str, order_ref: str) -> Login:
        login = records.login(order_ref)
        if login is None or login.kiosk_id != kiosk_id:
            raise Problem(ProblemCode.UNKNOWN_LOGIN)
        return login

    def _settle(self, records: Records, login: Login, now: float) -> ls.LoginState:
        """The login's state, writing down (and auditing) an expiry that just happened."""
        state = ls.state_at(login, now)
        if state.status != login.status and records.update_login(
            login.order_ref, only_if={"status": login.status}, status=state.status, hint=state.hint
        ):
            records.audit(now, "login-expired", kiosk_id=login.kiosk_id, order_ref=login.order_ref)
        return state

    def _login_status(self, login: Login, state: ls.LoginState) -> api.LoginStatus:
        completion = None
        if state.status == LoginStatusValue.COMPLETE and login.completed_name:
            completion = api.LoginCompletion(
                holder_name=login.completed_name, hsa_id=login.completed_hsa_id or ""
            )
        return api.LoginStatus(
            order_ref=login.order_ref,
            status=state.status,
            hint_code=state.hint,
            expires_at=moment(login.expires),
            completion=completion,
        )
