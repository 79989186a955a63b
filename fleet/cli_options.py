"""``kiosk-fleet serve``'s options, and the settings they make (checked, one line per mistake)."""

from __future__ import annotations

import argparse
import socket
import ssl
from pathlib import Path
from urllib.parse import urlsplit

from fleet.accounts import SessionLimits
from fleet.alerts import Thresholds
from fleet.device_ca import DeviceCa
from fleet.enrolment import SiteSettings
from fleet.ingest import BrokerSettings
from fleet.notify import MailSettings, WebhookSettings
from fleet.retention import Retention
from fleet.server import EnrolSettings, ServerSettings
from fleet.web.enrol import enrol_tls_context


def _broker(value: str) -> tuple[str, int]:
    parts = urlsplit(value)
    try:
        port = parts.port or 8883
    except ValueError:
        port = -1
    if parts.scheme != "mqtts" or not parts.hostname or not 0 < port < 65536:
        raise argparse.ArgumentTypeError("use mqtts://HOST[:PORT]")
    return parts.hostname, port


def _host_port(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError("use HOST:PORT")
    return host, int(port)


def _positive(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if number <= 0:
        raise argparse.ArgumentTypeError(f"must be a number above 0 (got {value!r})")
    return number


def add_serve_arguments(serve: argparse.ArgumentParser) -> None:
    """Every option of ``serve``, with the defaults the settings classes hold."""
    t, r, s = Thresholds(), Retention(), SessionLimits()
    broker = serve.add_argument_group("broker")
    broker.add_argument("--broker", type=_broker, required=True, help="mqtts://HOST[:PORT]")
    broker.add_argument("--broker-ca", type=Path, required=True, help="the broker's CA (PEM)")
    broker.add_argument("--cert", type=Path, required=True, help="client certificate fleet:<name>")
    broker.add_argument("--key", type=Path, required=True, help="its private key (PEM)")
    broker.add_argument("--instance", default=socket.gethostname(), help="this instance's name")
    broker.add_argument("--group", default="fleet", help="shared subscription group")
    web = serve.add_argument_group("dashboard")
    web.add_argument("--host", default="127.0.0.1", help="address to listen on")
    web.add_argument("--port", type=int, default=8080)
    web.add_argument("--tls-cert", type=Path, help="HTTPS certificate (PEM); HTTP without")
    web.add_argument("--tls-key", type=Path, help="HTTPS private key (PEM)")
    web.add_argument("--dashboard-url", help="the address people use (for links in alerts)")
    web.add_argument("--metrics-token-file", type=Path, help="bearer token for /metrics")
    web.add_argument("--session-idle", type=_positive, default=s.idle, help="seconds")
    web.add_argument("--session-lifetime", type=_positive, default=s.lifetime, help="seconds")
    alerts = serve.add_argument_group("alerts")
    alerts.add_argument("--smtp", type=_host_port, help="SMTP server HOST:PORT for alert e-mail")
    alerts.add_argument("--smtp-ca", type=Path, help="CA of the SMTP server's certificate")
    alerts.add_argument("--smtp-require-tls", action="store_true")
    alerts.add_argument("--mail-from", default="SITHS kiosk fleet <fleet@siths-kiosk.example>")
    alerts.add_argument("--mail-to", action="append", default=[], help="recipient (repeatable)")
    alerts.add_argument("--webhook", help="URL alerts are POSTed to as JSON")
    alerts.add_argument("--webhook-ca", type=Path)
    alerts.add_argument("--offline-alert-after", type=float, default=t.offline_after)
    alerts.add_argument("--temperature-alert", type=float, default=t.temperature_c)
    alerts.add_argument("--failed-unlocks-alert", type=int, default=t.failed_run)
    alerts.add_argument("--certificate-days-alert", type=int, default=t.certificate_days)
    alerts.add_argument("--outbox-alert", type=int, default=t.outbox_depth)
    alerts.add_argument("--look-interval", type=_positive, default=5.0, help="seconds")
    enrol = serve.add_argument_group("enrolment (docs/enrolment-api.md)")
    enrol.add_argument("--enrol-port", type=int, help="HTTPS port for kiosks' enrolment")
    enrol.add_argument("--enrol-host", help="address to listen on (default: --host)")
    enrol.add_argument("--enrol-tls-ca", type=Path, help="the CA of --tls-cert (tokens pin it)")
    enrol.add_argument("--site-card-service", help="card service https:// address for kiosks")
    enrol.add_argument("--site-card-service-ca", type=Path, help="its CA (PEM)")
    enrol.add_argument("--site-card-trust", type=Path, help="SITHS CA certificates (PEM)")
    enrol.add_argument("--site-broker", type=_broker, help="broker for kiosks (default --broker)")
    enrol.add_argument("--site-broker-ca", type=Path, help="its CA (default --broker-ca)")
    enrol.add_argument("--card-hash-key-file", type=Path, help="the kiosks' card-hash key")
    enrol.add_argument("--site-health-interval", type=_positive, default=60.0, help="seconds")
    keep = serve.add_argument_group("retention")
    keep.add_argument("--health-full-days", type=_positive, default=r.health_full_days)
    keep.add_argument("--health-days", type=_positive, default=r.health_days)
    keep.add_argument("--events-days", type=_positive, default=r.events_days)


def _tls(args: argparse.Namespace) -> ssl.SSLContext | None:
    if args.tls_cert is None and args.tls_key is None:
        return None
    if args.tls_cert is None or args.tls_key is None:
        raise OSError("--tls-cert and --tls-key go together")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(args.tls_cert, args.tls_key)
    return context


def _readable(*paths: Path | None) -> None:
    for path in paths:
        if path is not None and not path.is_file():
            raise OSError(f"cannot read {path}")


def _site(args: argparse.Namespace) -> SiteSettings | None:
    given = [args.site_card_service, args.site_card_service_ca, args.site_card_trust]
    if not any([*given, args.card_hash_key_file]):
        return None
    if not all([*given, args.card_hash_key_file]):
        raise OSError(
            "--site-card-service, --site-card-service-ca, --site-card-trust and"
            " --card-hash-key-file go together"
        )
    host, port = args.site_broker or args.broker
    broker_ca = args.site_broker_ca or args.broker_ca
    _readable(args.site_card_service_ca, args.site_card_trust, args.card_hash_key_file, broker_ca)
    key = args.card_hash_key_file.read_bytes()
    if len(key) < 32:
        raise OSError(f"{args.card_hash_key_file}: a card-hash key has at least 32 bytes")
    return SiteSettings(
        card_service_url=args.site_card_service.rstrip("/"),
        card_service_ca_pem=args.site_card_service_ca.read_text(),
        broker_url=f"mqtts://{host}:{port}",
        broker_ca_pem=broker_ca.read_text(),
        card_trust_pem=args.site_card_trust.read_text(),
        card_hash_key=key,
        health_interval=args.site_health_interval,
    )


def _enrol(args: argparse.Namespace) -> EnrolSettings | None:
    if args.enrol_port is None:
        return None
    if args.tls_cert is None or args.tls_key is None:
        raise OSError("--enrol-port needs --tls-cert and --tls-key (enrolment is HTTPS only)")
    _readable(args.enrol_tls_ca)
    ca = DeviceCa.load(args.state_dir)
    ca_file = args.state_dir / "device-ca.pem"
    return EnrolSettings(
        tls=enrol_tls_context(args.tls_cert, args.tls_key, ca_file),
        ca=ca,
        site=_site(args),
        tls_ca_pem=args.enrol_tls_ca.read_text() if args.enrol_tls_ca else None,
        host=args.enrol_host or args.host,
        port=args.enrol_port,
    )


def server_settings(args: argparse.Namespace) -> ServerSettings:
    """The settings of ``serve`` (:class:`OSError` names a missing file or a bad pair)."""
    _readable(args.broker_ca, args.cert, args.key, args.smtp_ca, args.webhook_ca)
    if args.smtp and not args.mail_to:
        raise OSError("--smtp needs at least one --mail-to")
    token = None
    if args.metrics_token_file is not None:
        token = args.metrics_token_file.read_text().strip() or None
    host, port = args.broker
    mail = None
    if args.smtp:
        mail = MailSettings(
            *args.smtp,
            args.mail_from,
            tuple(args.mail_to),
            ca_file=args.smtp_ca,
            require_tls=args.smtp_require_tls,
        )
    return ServerSettings(
        broker=BrokerSettings(
            host, port, args.broker_ca, args.cert, args.key, args.instance, args.group
        ),
        host=args.host,
        port=args.port,
        tls=_tls(args),
        thresholds=Thresholds(
            args.offline_alert_after,
            args.temperature_alert,
            args.failed_unlocks_alert,
            args.certificate_days_alert,
            args.outbox_alert,
        ),
        retention=Retention(args.health_full_days, args.health_days, args.events_days),
        sessions=SessionLimits(args.session_idle, args.session_lifetime),
        mail=mail,
        webhook=WebhookSettings(args.webhook, args.webhook_ca) if args.webhook else None,
        dashboard_url=args.dashboard_url,
        metrics_token=token,
        look_interval=args.look_interval,
        enrol=_enrol(args),
    )
