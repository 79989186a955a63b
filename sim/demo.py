"""``kiosk demo``: the whole kiosk on one machine, with nothing to configure.

It starts, in this process: a test SITHS PKI and a virtual SITHS card whose
identification PIN is blocked (served into the system pcscd's vpcd reader),
the reference card service over HTTPS with mutual TLS (development
certificates, SQLite in a temporary folder), an SMTP sink that prints the
holder's e-mail, and the kiosk itself; and beside it, as a process of its own,
the simulated Mobilt SITHS identity provider with its phone, which the card service
reaches through the relying-party API as it would reach the real one.

- ``kiosk demo``: the kiosk window. Keys: ``p`` = the simulated phone scans
  the QR on the screen and approves; ``r`` = pull the card out / put it back.
  The phone page's address is printed too.
- ``kiosk demo --scripted``: one whole unlock with no person and no window;
  exits 0 only when the card ends up unlocked with the new PIN.
- Without a display, ``kiosk demo`` says so and runs the scripted unlock in
  the real window on a virtual screen (Xvfb), saving a screenshot of each step.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import requests

from cardservice.housekeeping import Housekeeper
from cardservice.http_server import CardServiceServer, server_tls_context
from cardservice.identity_provider import ProviderSettings, RelyingPartyClient
from cardservice.mailer import Mailer, SmtpSettings
from cardservice.records import Card
from cardservice.service import CardService
from cardservice.store import Store
from cardservice.vault import Vault
from hw import pcsc
from hw.errors import CardError
from kiosk.appliance import Appliance
from kiosk.config import parse, render
from kiosk.flow import events as ev
from kiosk.flow.states import CardSummary, Done, Failed, LoginQr, NewPin, State
from kiosk.messages import explain
from protocol.login_qr import QrAnimation
from sim.demo_mail import body_text, smtp_printer
from sim.dev_pki import write_dev_pki
from sim.identity_provider.process import ProviderProcess
from sim.phone_client import PhoneRefused, SimulatedPhone
from sim.siths_pki import SithsHolder, SithsTestPki
from sim.vcard.siths_card import SithsCardState, VirtualSithsCard
from sim.vcard.vpcd import DEFAULT_PORT, VpcdLink

KIOSK_ID = "demo-kiosk"
DEMO_PUK = "12345678"
DEMO_NEW_PIN = "48291573"
STEP_TIMEOUT = 60.0


def _say(text: str) -> None:
    print(text, flush=True)


@dataclass
class DemoStack:
    """The parts the demo runs besides the kiosk."""

    folder: Path
    holder: SithsHolder
    card: VirtualSithsCard
    link: VpcdLink
    server: CardServiceServer
    store: Store
    mailer: Mailer
    housekeeper: Housekeeper
    provider: ProviderProcess
    smtp: object | None
    config_text: str
    service_ca: Path

    @classmethod
    def start(cls, port: int | None) -> DemoStack:
        """Make the PKIs, start the card service and the SMTP printer, personalise the card."""
        folder = Path(tempfile.mkdtemp(prefix="kiosk-demo-"))
        holder = SithsHolder()
        pki = SithsTestPki.generate()
        (folder / "siths-root.pem").write_bytes(pki.anchors_pem())
        (folder / "siths-issuing.pem").write_bytes(pki.intermediates_pem())
        tls = write_dev_pki(folder / "tls", [KIOSK_ID])
        store = Store(folder / "cardservice.sqlite3")
        vault = Vault.from_file(folder / "master.key")
        store.add_kiosk(KIOSK_ID, "Demo, entrance A")
        store.add_card(
            Card(
                holder.card_number,
                holder.full_name,
                holder.hsa_id,
                holder.personal_identity_number,
                holder.email,
                holder.product_code,
                "puk",
                vault.seal(DEMO_PUK.encode(), holder.card_number),
            )
        )
        smtp, smtp_port = smtp_printer(_holder_mail)
        mailer = Mailer(
            store, SmtpSettings("127.0.0.1", smtp_port, "kiosk-demo@example.org", timeout=2)
        ).start()
        identity = (holder.personal_identity_number, holder.full_name, holder.hsa_id)
        provider = ProviderProcess.start(tls, [identity])
        relying_party = RelyingPartyClient(
            ProviderSettings(provider.url, tls.service_ca, tls.rp_cert, tls.rp_key)
        )
        service = CardService(store, vault, relying_party)
        housekeeper = Housekeeper(service).start()
        server = CardServiceServer(
            service, server_tls_context(tls.service_cert, tls.service_key, tls.device_ca)
        ).start()
        card = VirtualSithsCard(
            SithsCardState.issue(holder, pki, puk=DEMO_PUK, identification_tries_left=0)
        )
        link = VpcdLink(card, port=port or DEFAULT_PORT)
        config_text = render(
            kiosk_id=KIOSK_ID,
            location="Demo, entrance A",
            url=server.url,
            ca_file=tls.service_ca,
            client_cert=tls.kiosk_cert(KIOSK_ID),
            client_key=tls.kiosk_key(KIOSK_ID),
            trust_anchors=[folder / "siths-root.pem", folder / "siths-issuing.pem"],
            fullscreen=False,
            outcome_outbox=folder / "outcomes.sqlite3",
        )
        return cls(
            folder,
            holder,
            card,
            link,
            server,
            store,
            mailer,
            housekeeper,
            provider,
            smtp,
            config_text,
            tls.service_ca,
        )

    def stop(self) -> None:
        """Remove the card, stop the servers, delete the temporary folder."""
        self.link.remove()
        self.server.stop()
        self.housekeeper.stop()
        self.mailer.stop()
        self.provider.stop()
        if self.smtp is not None:
            self.smtp.stop()  # type: ignore[attr-defined]
        self.store.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    def phone_approves(self, qr_content: str) -> bool:
        """The simulated Mobilt SITHS phone scans ``qr_content`` and approves as the holder."""
        phone = SimulatedPhone(
            self.provider.url, self.service_ca, self.holder.personal_identity_number
        )
        try:
            phone.log_in(qr_content)
        except (PhoneRefused, requests.RequestException) as error:
            _say(f"   phone: {error}")
            return False
        return True

    def settle(self, timeout: float = 15.0) -> None:
        """Wait (bounded) until the outcome is recorded and its e-mail has left the outbox."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            unlocks = self.store.unlocks()
            if unlocks and all(u.outcome for u in unlocks) and not self.store.unsent_mail():
                return
            self.mailer.wake()
            time.sleep(0.1)  # a bounded wait for the outbox; the demo ends right after

    def card_unlocked(self) -> bool:
        """Whether the virtual card's identification PIN is unblocked and is the demo PIN."""
        pin = self.card.state.identification_pin
        return not pin.blocked and pin.value.startswith(DEMO_NEW_PIN.encode())


def _holder_mail(message: EmailMessage) -> str:
    """How the demo shows the holder's e-mail."""
    rule = "-" * 65
    heading = f"\n--- e-mail to the holder {'-' * 40}\nTo: {message['To']}"
    return f"{heading}\nSubject: {message['Subject']}\n\n{body_text(message)}\n{rule}"


def _wait(appliance: Appliance, kind: type) -> State:
    def arrived_or_failed(state: State) -> bool:
        return isinstance(state, kind | Failed)

    state = appliance.controller.wait_for(arrived_or_failed, STEP_TIMEOUT)
    if isinstance(state, Failed) and kind is not Failed:
        raise RuntimeError(f"the kiosk says: {state.reason}")
    return state


def _current_qr(state: State) -> str:
    assert isinstance(state, LoginQr)
    login = state.login
    return QrAnimation(login.qr_prefix, login.qr_start_token, login.qr_start_secret).current()


def scripted(stack: DemoStack, appliance: Appliance) -> int:
    """The whole unlock with no person and no window."""
    _say("1. Inserting the virtual SITHS card (identification PIN blocked) ...")
    stack.link.insert()
    summary = _wait(appliance, CardSummary)
    card = summary.session.card  # type: ignore[union-attr]
    _say(f"   card {card.card_number}: {card.holder_name}, {card.organisation}")
    _say("2. Tapping 'Unlock with Mobilt SITHS' ...")
    appliance.controller.dispatch(ev.StartMobileLogin())
    qr = _wait(appliance, LoginQr)
    _say("3. The simulated phone scans the QR and approves ...")
    if not stack.phone_approves(_current_qr(qr)):
        return 1
    _wait(appliance, NewPin)
    _say("4. Typing a new PIN twice ...")
    appliance.controller.dispatch(ev.PinEntered(DEMO_NEW_PIN))
    appliance.controller.dispatch(ev.PinEntered(DEMO_NEW_PIN))
    _wait(appliance, Done)
    stack.settle()
    unlocked = stack.card_unlocked()
    _say(
        "5. "
        + (
            "Done: the card is unlocked and the new PIN is set."
            if unlocked
            else "The kiosk said done, but the card is still blocked!"
        )
    )
    return 0 if unlocked else 1


def _ui_scripted(stack: DemoStack, appliance: Appliance, shots: Path) -> int:
    """The scripted unlock in the real window, with a screenshot of each step."""
    outcome = {"code": 1}

    def act(app: object) -> None:
        from sim.scripted_person import ScriptedPerson  # after the window is configured

        def steps() -> None:
            person = ScriptedPerson(app, shots)  # type: ignore[arg-type]

            def reach(kind: type) -> None:
                _wait(appliance, kind)
                person.wait_shown(kind)

            try:
                person.screenshot("idle")
                stack.link.insert()
                reach(CardSummary)
                person.screenshot("card-summary")
                person.tap("unlock_mobile")
                reach(LoginQr)
                if not stack.phone_approves(person.read_qr()):
                    raise RuntimeError("the phone could not approve")
                reach(NewPin)
                person.screenshot("new-pin")
                person.type_digits(DEMO_NEW_PIN)
                person.type_digits(DEMO_NEW_PIN)
                reach(Done)
                person.screenshot("done")
                stack.settle()
                outcome["code"] = 0 if stack.card_unlocked() else 1
            except Exception as error:
                _say(f"The scripted unlock failed: {error}")
            finally:
                person.on_main(app.stop)  # type: ignore[attr-defined]

        threading.Thread(target=steps, daemon=True).start()

    appliance.run_window(on_started=act)
    _say(f"Screenshots of each step: {shots}")
    return outcome["code"]


def _interactive(stack: DemoStack, appliance: Appliance) -> int:
    """The window, for a person; the phone and the card on keys."""
    _say("The kiosk window is open. In it, press:")
    _say("  p  the simulated Mobilt SITHS phone scans the QR on the screen and approves")
    _say("  r  pull the virtual card out / put it back")
    _say("Close the window to end the demo (a real kiosk's window cannot be closed).")
    _say(f"Phone page (test certificate; your browser will warn): {stack.provider.url}/phone")
    _say(f"Holder's personal identity number: {stack.holder.personal_identity_number}")

    def on_key(
        _window: object, _key: int, _scancode: int, codepoint: str | None, *_: object
    ) -> bool:
        if codepoint == "p" and isinstance(appliance.controller.state, LoginQr):
            threading.Thread(
                target=stack.phone_approves,
                args=(_current_qr(appliance.controller.state),),
                daemon=True,
            ).start()
            return True
        if codepoint == "r":
            if stack.link.inserted:
                stack.link.remove()
            else:
                stack.link.insert()
            return True
        return False

    def started(_app: object) -> None:
        from kivy.core.window import Window

        Window.bind(on_keyboard=on_key)
        stack.link.insert()

    appliance.run_window(on_started=started, closable=True)
    return 0


def run(
    *,
    scripted_run: bool,
    port: int | None = None,
    screenshots: Path | None = None,
    ui_scripted: bool = False,
) -> int:
    """Run the demo; the exit code says whether the card was unlocked (scripted modes)."""
    try:
        with pcsc.pcsc_context() as context:
            readers = pcsc.list_readers(context)
    except CardError as error:
        _say(explain(error))
        return 3
    if not any("Virtual PCD" in r for r in readers):
        _say("No vpcd reader found. Install vsmartcard-vpcd and restart pcscd.")
        return 3
    if not scripted_run and not ui_scripted and not os.environ.get("DISPLAY"):
        shots = screenshots or Path(tempfile.mkdtemp(prefix="kiosk-demo-screens-"))
        _say("No display here: running the scripted unlock in the kiosk window on a virtual")
        _say(f"screen (Xvfb) instead; screenshots go to {shots}")
        if shutil.which("xvfb-run") is None:
            _say("xvfb-run is missing (Debian package xvfb); use --scripted instead.")
            return 3
        command = [
            "xvfb-run",
            "-a",
            "-s",
            "-screen 0 1280x720x24",
            sys.executable,
            "-m",
            "kiosk.cli",
            "demo",
            "--ui-scripted",
            "--screenshots",
            str(shots),
        ]
        if port:
            command += ["--port", str(port)]
        return subprocess.call(command)
    stack = DemoStack.start(port)
    appliance = Appliance.build(parse(stack.config_text)).start()
    try:
        if scripted_run:
            return scripted(stack, appliance)
        if ui_scripted:
            shots = screenshots or Path(tempfile.mkdtemp(prefix="kiosk-demo-screens-"))
            return _ui_scripted(stack, appliance, shots)
        return _interactive(stack, appliance)
    except (RuntimeError, TimeoutError) as error:
        _say(f"The demo failed: {error}")
        return 1
    finally:
        appliance.stop()
        stack.stop()
