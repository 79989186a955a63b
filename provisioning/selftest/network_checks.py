"""Name resolution and a TCP connection to each server the kiosk needs.

Asked first and apart from TLS, so "the name does not resolve", "nothing listens
there", "a firewall swallows the packets" and "no route" are told apart before any
certificate is looked at; the TLS checks that follow are skipped for a host that
cannot be reached, so one cause is reported once.
"""

from __future__ import annotations

import enum
import errno
import socket
from dataclasses import dataclass

from provisioning.selftest.results import CheckResult
from provisioning.selftest.target import Endpoint

#: Seconds to wait for a name, and again for a connection.
NETWORK_TIMEOUT = 5.0


class Unreachable(enum.StrEnum):
    """Why a host could not be reached."""

    NAME = "name"  # the name does not resolve
    REFUSED = "refused"  # the host answered: nothing listens on the port
    TIMEOUT = "timeout"  # no answer at all (a firewall, a host that is off)
    NO_ROUTE = "no-route"  # this kiosk has no way there (no network, wrong address)


@dataclass(frozen=True)
class Reach:
    """Where a name led and whether a connection was made."""

    endpoint: Endpoint
    addresses: tuple[str, ...] = ()
    failure: Unreachable | None = None
    detail: str = ""

    @property
    def reached(self) -> bool:
        """Whether a TCP connection was made."""
        return self.failure is None


def classify(error: OSError) -> Unreachable:
    """The kind of a socket error (connecting, or any later step over the same network)."""
    if isinstance(error, socket.gaierror):
        return Unreachable.NAME
    if isinstance(error, ConnectionRefusedError):
        return Unreachable.REFUSED
    if isinstance(error, TimeoutError):
        return Unreachable.TIMEOUT
    if error.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EADDRNOTAVAIL):
        return Unreachable.NO_ROUTE
    return Unreachable.TIMEOUT if error.errno == errno.ETIMEDOUT else Unreachable.NO_ROUTE


def reach(endpoint: Endpoint, timeout: float = NETWORK_TIMEOUT) -> Reach:
    """Resolve the host and open (and close) one TCP connection to it."""
    try:
        found = socket.getaddrinfo(endpoint.host, endpoint.port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        return Reach(endpoint, (), Unreachable.NAME, str(error.strerror or error))
    addresses = tuple(dict.fromkeys(str(info[4][0]) for info in found))
    try:
        with socket.create_connection((endpoint.host, endpoint.port), timeout=timeout):
            return Reach(endpoint, addresses)
    except OSError as error:
        return Reach(endpoint, addresses, classify(error), str(error.strerror or error))


def unreachable_words(
    failure: Unreachable, endpoint: Endpoint, what: str, key: str, addresses: str = ""
) -> tuple[str, str]:
    """What was found and the fix, for a host that cannot be reached (shared by the TLS checks)."""
    at = f"{endpoint.host} ({addresses})" if addresses not in ("", endpoint.host) else endpoint.host
    if failure is Unreachable.NAME:
        return (
            f"the name {endpoint.host} cannot be resolved",
            "check the network cable or Wi-Fi and that this network's DNS works "
            f"('resolvectl query {endpoint.host}'); if the name is misspelt, correct {key} in "
            "kiosk.toml",
        )
    if failure is Unreachable.REFUSED:
        return (
            f"{at} refused the connection on port {endpoint.port}: the {what} is not listening",
            f"the {what} is down or the port is wrong: check {key} in kiosk.toml and ask "
            f"facility IT whether the {what} is running",
        )
    if failure is Unreachable.TIMEOUT:
        return (
            f"no answer from {at} on port {endpoint.port}",
            f"a firewall probably blocks it: ask the site's network team to allow outgoing TCP "
            f"to {endpoint.host} port {endpoint.port} from the kiosk's network",
        )
    return (
        f"no route to {at} port {endpoint.port}",
        "check the network cable or Wi-Fi and that the kiosk has an address ('ip addr'); "
        f"if the address is wrong, correct {key} in kiosk.toml",
    )


def judge_reach(check_id: str, title: str, what: str, key: str, found: Reach) -> CheckResult:
    """The network check of one server, named after it."""
    addresses = ", ".join(found.addresses)
    if found.failure is None:
        named = (
            f"{found.endpoint.host} resolves to {addresses}"
            if addresses != found.endpoint.host
            else f"{found.endpoint.host} (an address: no name to resolve)"
        )
        return CheckResult.ok(check_id, title, f"{named}; port {found.endpoint.port} answers")
    words, fix = unreachable_words(found.failure, found.endpoint, what, key, addresses)
    return CheckResult.failed(check_id, title, words, fix)
