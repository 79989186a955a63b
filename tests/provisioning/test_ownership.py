"""Run as root (``sudo kiosk-provision``), what the tool writes still belongs to the kiosk.

The kiosk runs as its own user and must read its key, certificate and configuration; a
root-owned 0600 key would stop it at start. The folders are given an owner other than
root here, as the install gives ``/var/lib/siths-kiosk`` to ``siths-kiosk``.
"""

from __future__ import annotations

import os

import pytest

from provisioning import kiosk_file
from provisioning.device import write_file
from provisioning.keystore import FileKeyStore
from tests.provisioning.test_kiosk_file import provisioned

KIOSK_USER = 65534  # nobody: any id that is not root's

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="handing files over needs root")


def test_files_written_as_root_belong_to_the_owner_of_their_folder(tmp_path):
    state, config = tmp_path / "state", tmp_path / "etc"
    state.mkdir(mode=0o700)
    config.mkdir(mode=0o750)
    os.chown(state, KIOSK_USER, KIOSK_USER)
    os.chown(config, 0, KIOSK_USER)  # root:siths-kiosk, as the install makes it

    FileKeyStore(state / "device.key").generate()
    write_file(state / "device.pem", "certificate", 0o644)
    write_file(state / "card-hash.key", b"k" * 32, 0o600)
    kiosk_file.write(config / "kiosk.toml", provisioned(state))

    for name in ("device.key", "device.pem", "card-hash.key"):
        info = (state / name).stat()
        assert (info.st_uid, info.st_gid) == (KIOSK_USER, KIOSK_USER), name
    assert (state / "device.key").stat().st_mode & 0o777 == 0o600  # still the owner's alone
    info = (config / "kiosk.toml").stat()
    assert (info.st_uid, info.st_gid) == (0, KIOSK_USER)
