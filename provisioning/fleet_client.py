"""Talking to the fleet's enrolment listener (docs/enrolment-api.md).

The first contact trusts nothing: the fleet's TLS CA is fetched over an unverified
connection and kept only if its SHA-256 is the token's ``fleetCaSha256``; every call
after that trusts that CA alone. Renewal and decommissioning present the device
certificate (mutual TLS). A refusal is raised as :class:`FleetRefused` with the
stable code, the fleet's detail and what to do.
"""

from __future__ import annotations

import http.client
import json
import ssl
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pydantic import BaseModel, ValidationError

from protocol import enrolment as en
from protocol.cardservice_api import describe

Model = TypeVar("Model", bound=BaseModel)
#: Seconds to connect and to wait for an answer.
TIMEOUT = (5.0, 30.0)


class FleetError(Exception):
    """The fleet could not be asked (network, TLS, a wrong CA); the message says which."""


class FleetRefused(FleetError):
    """The fleet said no, with a stable code."""

    def __init__(self, code: str, detail: str | None) -> None:
        try:
            kind = en.PROBLEMS[en.EnrolProblem(code)]
            words, fix = kind.title, kind.fix
        except ValueError:
            words, fix = f"refused ({code})", "ask facility IT"
        message = f"{words}" + (f": {detail}" if detail and detail != words else "")
        super().__init__(f"{message}. What to do: {fix}.")
        self.code = code


def fetch_pinned_ca(fleet: str, sha256: str) -> str:
    """The fleet's TLS CA (PEM), if its hash is the pinned one; else :class:`FleetError`."""
    address = urlsplit(fleet)
    unverified = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    unverified.check_hostname = False
    unverified.verify_mode = ssl.CERT_NONE  # nothing is trusted from this answer but its hash
    connection = http.client.HTTPSConnection(
        address.hostname or "", address.port or 443, timeout=TIMEOUT[0], context=unverified
    )
    try:
        connection.request("GET", en.TLS_CA_PATH)
        answer = connection.getresponse()
        body = answer.read(64 * 1024).decode("utf-8", "replace")
    except (OSError, http.client.HTTPException) as error:
        raise FleetError(f"the fleet server {fleet} cannot be reached ({error})") from None
    finally:
        connection.close()
    if answer.status != 200:
        raise FleetError(f"the fleet server {fleet} did not give its CA (HTTP {answer.status})")
    try:
        certificates = x509.load_pem_x509_certificates(body.encode())
    except ValueError:
        raise FleetError(f"the fleet server {fleet} sent no CA certificate") from None
    if len(certificates) != 1:
        # Only the pinned certificate may become trusted: a second one in the answer would
        # be trusted too without being checked against the token.
        raise FleetError(
            f"the fleet server {fleet} sent {len(certificates)} certificates where its one CA"
            " belongs: this is not your fleet server; ask facility IT"
        )
    pem = certificates[0].public_bytes(serialization.Encoding.PEM).decode()
    found = en.ca_sha256(pem)
    if found != sha256:
        raise FleetError(
            f"the fleet server's CA is not the one the token names (SHA-256 {found[:16]}...,"
            f" token {sha256[:16]}...): this is not your fleet server, or the token is old;"
            " ask facility IT"
        )
    return pem  # the one certificate whose hash was checked, nothing else from the answer


class FleetClient:
    """Calls to one fleet, trusting one CA file, optionally with the device certificate."""

    def __init__(
        self, fleet: str, ca_file: Path, client_cert: tuple[Path, Path] | None = None
    ) -> None:
        self.fleet = fleet.rstrip("/")
        self.session = requests.Session()
        # Per request, not on the session: requests lets $REQUESTS_CA_BUNDLE override a
        # session's CA, and the pinned CA must be the only one trusted.
        self.verify = str(ca_file)
        self.cert = (str(client_cert[0]), str(client_cert[1])) if client_cert else None

    def close(self) -> None:
        """Close the connection pool."""
        self.session.close()

    def _call(self, path: str, body: BaseModel | None, model: type[Model]) -> Model:
        try:
            answer = self.session.post(
                self.fleet + path,
                json=en.to_wire(body) if body is not None else None,
                timeout=TIMEOUT,
                verify=self.verify,
                cert=self.cert,
            )
        except requests.exceptions.SSLError as error:
            raise FleetError(f"TLS with the fleet server failed ({_short(error)})") from None
        except requests.RequestException as error:
            raise FleetError(f"the fleet server cannot be reached ({_short(error)})") from None
        data = _json(answer)
        if answer.status_code >= 400:
            code = data.get("code") if isinstance(data, dict) else None
            detail = data.get("detail") if isinstance(data, dict) else None
            raise FleetRefused(str(code or f"http-{answer.status_code}"), detail)
        try:
            return model.model_validate(data, by_alias=True, by_name=False)
        except ValidationError as error:
            raise FleetError(f"the fleet's answer is not understood ({describe(error)})") from None

    def enrol(self, request: en.EnrolRequest) -> en.EnrolResponse:
        """``POST /v1/enrol``."""
        return self._call(en.ENROL_PATH, request, en.EnrolResponse)

    def renew(self, request: en.RenewRequest) -> en.RenewResponse:
        """``POST /v1/renew`` (mutual TLS)."""
        return self._call(en.RENEW_PATH, request, en.RenewResponse)

    def decommission(self) -> en.DecommissionResponse:
        """``POST /v1/decommission`` (mutual TLS)."""
        return self._call(en.DECOMMISSION_PATH, None, en.DecommissionResponse)


def _json(answer: requests.Response) -> Any:
    try:
        return json.loads(answer.content)
    except ValueError:
        return None


def _short(error: Exception) -> str:
    text = str(error)
    return text if len(text) < 200 else text[:197] + "..."
