"""``kiosk run`` checks the device key's permissions at every start."""

from __future__ import annotations

import shutil
import subprocess
import sys

from kiosk.config import render


def _configured(tmp_path, dev_pki, mode: int):
    key = tmp_path / "device.key"
    shutil.copy(dev_pki.kiosk_key("kiosk-entre-a"), key)
    key.chmod(mode)
    config = tmp_path / "kiosk.toml"
    config.write_text(
        render(
            kiosk_id="kiosk-entre-a",
            location="Entré A",
            url="https://127.0.0.1:9",
            ca_file=dev_pki.service_ca,
            client_cert=dev_pki.kiosk_cert("kiosk-entre-a"),
            client_key=key,
            trust_anchors=[dev_pki.service_ca],
            fullscreen=False,
        )
    )
    return config, key


def _run(config):
    return subprocess.run(
        [sys.executable, "-m", "kiosk.cli", "run", "--headless", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_world_readable_key_stops_the_kiosk_and_names_the_fix(tmp_path, dev_pki):
    config, key = _configured(tmp_path, dev_pki, 0o644)
    result = _run(config)
    assert result.returncode == 1
    assert f"the device key {key} can be read by other users" in result.stderr
    assert f"chmod 600 {key}" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_group_readable_key_stops_the_kiosk_too(tmp_path, dev_pki):
    config, key = _configured(tmp_path, dev_pki, 0o640)
    result = _run(config)
    assert result.returncode == 1
    assert f"chmod 600 {key}" in result.stderr
