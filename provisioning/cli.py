"""kiosk-provision: enrol, configure, self-test, renew and decommission this kiosk.

The field technician's tool (docs/technician-guide.md): ``enrol`` (token text,
``--token-file`` or ``--usb``), ``configure``, ``status``, ``self-test``, ``renew`` and
``decommission``. Plain words, ``--json`` for automation, exit status 0
only when everything asked for was done.

Self-test hook: a module ``provisioning.selftest.command`` with
``register(subparsers)`` adds its own subcommand (it sets ``func`` with
``set_defaults``, as every subcommand here does); see :func:`_register_selftest`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from protocol import enrolment as en
from provisioning import device
from provisioning.fleet_client import FleetError
from provisioning.kiosk_file import KioskFileError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
#: Where removable media are mounted (udisks: /media/USER/LABEL, /run/media/USER/LABEL).
MEDIA_ROOTS = (Path("/media"), Path("/run/media"))


def find_token_file(roots: Sequence[Path]) -> Path:
    """The one ``enrol.json`` at the top of a mounted stick (up to two folders down)."""
    found = sorted(
        {
            path
            for root in roots
            for pattern in (f"*/{en.TOKEN_FILE_NAME}", f"*/*/{en.TOKEN_FILE_NAME}")
            for path in root.glob(pattern)
            if path.is_file()
        }
    )
    where = " or ".join(str(root) for root in roots)
    if not found:
        raise device.ProvisioningError(
            f"no {en.TOKEN_FILE_NAME} on a USB stick under {where}: is the stick in and"
            " mounted, and is the file at its top level?"
        )
    if len(found) > 1:
        names = ", ".join(str(p) for p in found)
        raise device.ProvisioningError(f"more than one token file ({names}): leave one stick in")
    return found[0]


#: A token file is a few hundred bytes; a stick's file is read no further than this.
TOKEN_FILE_LIMIT = 16 * 1024


def _read_token_file(path: Path) -> str:
    try:
        with path.open("rb") as file:
            data = file.read(TOKEN_FILE_LIMIT + 1)
    except OSError as error:
        raise device.ProvisioningError(f"cannot read {path}: {error}") from None
    if len(data) > TOKEN_FILE_LIMIT:
        raise device.ProvisioningError(f"{path} is too large to be a token file")
    return data.decode("utf-8", "replace")


def _token(args: argparse.Namespace) -> en.EnrolmentToken:
    if args.usb:
        text = _read_token_file(find_token_file(args.media_root or MEDIA_ROOTS))
    elif args.token_file is not None:
        text = _read_token_file(args.token_file)
    elif args.token is not None:
        text = args.token
    else:
        raise device.ProvisioningError("give the token, --token-file FILE or --usb")
    try:
        return en.parse_token(text.strip())
    except en.TokenError as error:
        raise device.ProvisioningError(str(error)) from None


def _say(args: argparse.Namespace, data: dict[str, Any], words: list[str]) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False) if args.json else "\n".join(words))


def _enrol(args: argparse.Namespace, layout: device.Layout) -> int:
    token = _token(args)
    answer = device.enrol(
        layout, token, kiosk_id=args.kiosk_id, location=args.location, site=args.site
    )
    config = answer.config
    _say(
        args,
        {
            "enrolled": True,
            "kioskId": answer.kiosk_id,
            "site": config.site,
            "config": str(layout.config),
        },
        [
            f"Enrolled as {answer.kiosk_id} at {config.site}"
            + (f" ({config.location})" if config.location else "")
            + ".",
            f"Configuration written to {layout.config}; device key {layout.keystore.tls_key}"
            " (only its owner can read it).",
            "Next: restart the kiosk (systemctl restart siths-kiosk) and check it.",
        ],
    )
    return EXIT_OK


def _configure(args: argparse.Namespace, layout: device.Layout) -> int:
    if args.site is None and args.location is None:
        raise device.ProvisioningError("give --site, --location or both")
    where = device.remember_place(layout, args.site, args.location)
    _say(args, {"site": args.site, "location": args.location, "saved": where}, [f"Saved: {where}."])
    return EXIT_OK


def _status(args: argparse.Namespace, layout: device.Layout) -> int:
    found = device.status(layout, dt.datetime.now(dt.UTC))
    ok = found["enrolled"] and found["keyPrivate"]
    words = []
    if not found["enrolled"]:
        words.append("Not enrolled. Run: kiosk-provision enrol --usb (or with the token).")
    else:
        words.append(
            f"Enrolled as {found['certificateName']} at {found['site'] or '(no site)'}"
            f", {found['location'] or '(no location)'}; fleet {found['fleet']}."
        )
        due = " Renewal is due: run kiosk-provision renew." if found["renewDue"] else ""
        words.append(
            f"Certificate valid until {found['certificateExpires']}"
            f" ({found['daysLeft']} days).{due}"
        )
    if found["keyPresent"] and not found["keyPrivate"]:
        words.append(f"The device key can be read by others: chmod 600 {found['key']}")
    _say(args, found, words)
    return EXIT_OK if ok else EXIT_FAILED


def _restart(unit: str) -> tuple[bool, str]:
    """``systemctl try-restart unit``: the kiosk reads its certificate only when it starts."""
    fix = f"restart it (systemctl restart {unit}) to use the new certificate"
    try:
        result = subprocess.run(
            ["systemctl", "try-restart", unit],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return False, f"{unit} was not restarted ({error}); {fix}."
    if result.returncode != 0:
        said = result.stderr.strip() or f"systemctl exit status {result.returncode}"
        return False, f"{unit} was not restarted ({said}); {fix}."
    return True, f"{unit} restarted (if it was running) to use the new certificate."


def _renew(args: argparse.Namespace, layout: device.Layout) -> int:
    renewed, left = device.renew(layout, dt.datetime.now(dt.UTC), force=args.force)
    word = "Renewed" if renewed else "Not renewed yet"
    why = "" if renewed else f" (more than {device.RENEW_DAYS} days left; --force renews now)"
    words = [f"{word}: the certificate is valid for {int(left)} more days{why}."]
    restarted: bool | None = None
    if renewed and args.restart:
        restarted, said = _restart(args.restart)
        words.append(said)
    _say(args, {"renewed": renewed, "daysLeft": int(left), "restarted": restarted}, words)
    return EXIT_FAILED if restarted is False else EXIT_OK


def _decommission(args: argparse.Namespace, layout: device.Layout) -> int:
    said = device.decommission(layout)
    _say(
        args,
        {"decommissioned": True},
        [f"Decommissioned: {said}; the device key, certificates and {layout.config} are gone."],
    )
    return EXIT_OK


def _register_selftest(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Let the self-test add its subcommand, when it is installed.

    The contract: ``provisioning.selftest.command.register(subparsers)`` adds a parser
    whose ``set_defaults(func=...)`` takes ``(args, layout)`` and returns the exit status.
    """
    try:
        from provisioning.selftest.command import register  # type: ignore[import-not-found]
    except ModuleNotFoundError as missing:
        if missing.name in ("provisioning.selftest", "provisioning.selftest.command"):
            return  # not installed in this build
        raise
    register(commands)


def build_parser() -> argparse.ArgumentParser:
    """The whole command line."""
    parser = argparse.ArgumentParser(prog="kiosk-provision", description=__doc__.splitlines()[0])
    parser.add_argument("--state-dir", type=Path, default=device.DEFAULT_STATE)
    parser.add_argument("--config", type=Path, default=device.DEFAULT_CONFIG)
    commands = parser.add_subparsers(dest="command", required=True)
    enrol = commands.add_parser("enrol", help="get the certificate and the site's settings")
    enrol.add_argument("token", nargs="?", help="the token text (JSON, as in the QR code)")
    enrol.add_argument("--token-file", type=Path, help="the token file (enrol.json)")
    enrol.add_argument("--usb", action="store_true", help="find enrol.json on a USB stick")
    enrol.add_argument("--media-root", type=Path, action="append", help=argparse.SUPPRESS)
    enrol.add_argument("--kiosk-id", help="this kiosk's id (when the token names none)")
    enrol.add_argument("--location", help="where the kiosk stands")
    enrol.add_argument("--site", help="the site you are setting up (a token for another fails)")
    enrol.set_defaults(func=_enrol)
    configure = commands.add_parser("configure", help="set the site and location")
    configure.add_argument("--site")
    configure.add_argument("--location")
    configure.set_defaults(func=_configure)
    commands.add_parser("status", help="enrolment and certificate").set_defaults(func=_status)
    renew = commands.add_parser("renew", help="renew the certificate when due")
    renew.add_argument("--force", action="store_true", help="renew now")
    renew.add_argument(
        "--restart", metavar="UNIT", help="when renewed, restart UNIT to use the certificate"
    )
    renew.set_defaults(func=_renew)
    commands.add_parser(
        "decommission", help="revoke, then wipe key and configuration"
    ).set_defaults(func=_decommission)
    for sub in commands.choices.values():
        sub.add_argument("--json", action="store_true", help="machine-readable output")
    _register_selftest(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point."""
    os.umask(0o022)
    parser = build_parser()
    args = parser.parse_args(argv)
    layout = device.Layout(args.state_dir.absolute(), args.config.absolute())
    try:
        return int(args.func(args, layout))
    except (device.ProvisioningError, FleetError, KioskFileError) as error:
        if getattr(args, "json", False):
            print(json.dumps({"ok": False, "error": str(error)}, ensure_ascii=False))
        print(f"kiosk-provision {args.command}: {error}", file=sys.stderr)
        return EXIT_FAILED
    except OSError as error:
        print(f"kiosk-provision {args.command}: {error}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
