"""Run every check in order, each in plain words, and put the run together.

The order follows what a technician fixes first: the card stack, then the network, then
the servers over it, then the machine. A check that cannot mean anything because an
earlier one failed (the card service's TLS when its host cannot be reached) is skipped
with the reason, so one cause is reported once. A check that breaks (a bug) becomes a
failed check naming it, and the others still run.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hw.board import Board, detect_board
from provisioning.selftest import broker_checks, card_checks, local_checks, service_checks
from provisioning.selftest.network_checks import NETWORK_TIMEOUT, judge_reach, reach
from provisioning.selftest.report import SelfTestRun
from provisioning.selftest.results import CheckResult
from provisioning.selftest.target import Target

log = logging.getLogger(__name__)

NETWORK_CARD_SERVICE = ("network-card-service", "Network: card service")
NETWORK_BROKER = ("network-broker", "Network: broker")


@dataclass(frozen=True)
class Options:
    """How to run: what the technician chose, and what a test may put in the checks' place.

    ``clock`` is the kiosk's clock as the clock check reads it; ``board`` the board to read
    (``None``: this machine's, as :func:`hw.board.detect_board` finds it).
    """

    on_screen: bool = False
    #: With ``on_screen``: the tap test's window (``WIDTHxHEIGHT`` at the top left), or
    #: ``None`` for fullscreen.
    window: str | None = None
    clock: Callable[[], float] = time.time
    clock_tolerance: float = service_checks.CLOCK_TOLERANCE
    network_timeout: float = NETWORK_TIMEOUT
    board: Board | None = None
    systemd_runtime: Path = local_checks.SYSTEMD_RUNTIME


def software_version() -> str:
    """The installed kiosk software's version, as the ticket report names it."""
    try:
        return importlib.metadata.version("siths-kiosk")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _guarded(check_id: str, title: str, check: Callable[[], CheckResult]) -> CheckResult:
    try:
        return check()
    except Exception as error:  # a bug in a check must not hide the others' findings
        log.exception("the %s check broke", check_id)
        return CheckResult.failed(
            check_id,
            title,
            f"the check itself failed ({type(error).__name__}: {error})",
            "run the self-test again; if this repeats, send this report to the kiosk's developers",
        )


def run_checks(target: Target, options: Options = Options()) -> list[CheckResult]:
    """Every check's result, in the order the checklist shows them."""
    look = card_checks.look_at_pcsc()
    results = [
        card_checks.judge_pcscd(look),
        card_checks.judge_reader(look),
        _guarded(
            *card_checks.CARD,
            lambda: card_checks.card_check(look, target.trust_anchors, target.apdu_timeout),
        ),
    ]
    service_reach = reach(target.card_service, options.network_timeout)
    results.append(
        judge_reach(*NETWORK_CARD_SERVICE, "card service", "card_service.url", service_reach)
    )
    broker_reached = False
    if target.broker is None:
        results.append(CheckResult.skipped(*NETWORK_BROKER, "no [telemetry] broker"))
    else:
        broker_reach = reach(target.broker.endpoint, options.network_timeout)
        broker_reached = broker_reach.reached
        results.append(judge_reach(*NETWORK_BROKER, "broker", "telemetry.broker", broker_reach))
    board = options.board or detect_board(disk=target.state_dir)
    reading = board.read()
    unreachable = "the card service cannot be reached (see the network check)"
    if service_reach.reached:
        results.append(
            _guarded(
                *service_checks.CLOCK,
                lambda: service_checks.check_clock(
                    target,
                    clock=options.clock,
                    tolerance=options.clock_tolerance,
                    synchronised=reading.clock_synchronised,
                ),
            )
        )
        results.append(
            _guarded(
                *service_checks.CARD_SERVICE, lambda: service_checks.check_card_service(target)
            )
        )
    else:
        results.append(CheckResult.skipped(*service_checks.CLOCK, unreachable))
        results.append(CheckResult.skipped(*service_checks.CARD_SERVICE, unreachable))
    if target.broker is None or broker_reached:
        results.append(_guarded(*broker_checks.BROKER, lambda: broker_checks.check_broker(target)))
    else:
        results.append(
            CheckResult.skipped(
                *broker_checks.BROKER,
                "the broker cannot be reached (see the network check)",
            )
        )
    results += local_checks.board_checks(target.state_dir, reading)
    results.append(
        _guarded(*local_checks.UNITS, lambda: local_checks.check_units(options.systemd_runtime))
    )
    results.append(
        _guarded(
            *local_checks.DISPLAY,
            lambda: local_checks.check_display(options.on_screen, window=options.window),
        )
    )
    return results


def self_test(target: Target, options: Options = Options()) -> SelfTestRun:
    """One whole run: the kiosk's name, site, software and time, and every check."""
    at = dt.datetime.now(dt.UTC)
    return SelfTestRun(
        target.kiosk_id, target.site, software_version(), at, run_checks(target, options)
    )
