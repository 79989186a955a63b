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
ROOTS_OWN = 'owner = "root"\n'  # a file of root's (TOML, as kiosk.toml is read first)

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


def test_a_link_the_kiosk_user_planted_is_never_followed(tmp_path):
    # The kiosk's user owns the state folder and could plant links in it for root to
    # follow: each write replaces the link itself, the wipe removes only the link.
    state, victim = tmp_path / "state", tmp_path / "victim"
    state.mkdir(mode=0o700)
    os.chown(state, KIOSK_USER, KIOSK_USER)
    victim.write_text(ROOTS_OWN)
    victim.chmod(0o600)
    for name in ("device.pem", ".device.pem.partial", "card-hash.key"):
        (state / name).symlink_to(victim)
    (state / "kiosk.toml").symlink_to(victim)

    write_file(state / "device.pem", "certificate", 0o644)
    kiosk_file.write(state / "kiosk.toml", provisioned(state))
    FileKeyStore(state / "card-hash.key").wipe()

    assert victim.read_text() == ROOTS_OWN
    info = victim.stat()
    assert (info.st_uid, info.st_mode & 0o777) == (0, 0o600)
    assert not (state / "device.pem").is_symlink()
    assert (state / "device.pem").read_text() == "certificate"
    assert not (state / "card-hash.key").exists()
    (state / "device.key").symlink_to(victim)
    with pytest.raises(FileExistsError):  # a planted link where the key goes: refused
        FileKeyStore(state / "device.key").generate()
    assert victim.read_text() == ROOTS_OWN
