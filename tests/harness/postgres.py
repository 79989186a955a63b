"""A private PostgreSQL cluster for the tests (Debian's ``postgresql``), started and stopped here.

The cluster lives in a temporary folder, listens on a free loopback port (and a socket
in that folder), trusts local connections, and belongs to an unprivileged user: the
``postgres`` account when the tests run as root (PostgreSQL refuses to run as root),
else the current user. A system cluster, running or not, is left alone.
"""

from __future__ import annotations

import getpass
import os
import pwd
import shutil
import subprocess
import uuid
from pathlib import Path

from tests.harness.smtp_sink import free_port

#: The account the cluster runs as when the tests are root.
SERVICE_ACCOUNT = "postgres"


def postgres_bin() -> Path:
    """The newest installed PostgreSQL's programs."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name)
    )
    if not found:
        raise RuntimeError(
            "PostgreSQL is not installed (Debian package postgresql; scripts/bootstrap)"
        )
    return found[-1].parent


class PrivatePostgres:
    """initdb + pg_ctl in a folder of our own."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.data = folder / "data"
        self.port = free_port()
        self.bin = postgres_bin()
        self.user = SERVICE_ACCOUNT if os.geteuid() == 0 else getpass.getuser()

    def _run(self, *command: str) -> None:
        prefix: list[str] = []
        if os.geteuid() == 0:
            prefix = ["runuser", "-u", self.user, "--"]
        result = subprocess.run(
            [*prefix, *command], capture_output=True, text=True, timeout=120, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(f"{Path(command[0]).name} failed: {result.stderr or result.stdout}")

    def start(self) -> PrivatePostgres:
        """Make the cluster and start it."""
        self.folder.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            account = pwd.getpwnam(self.user)
            os.chown(self.folder, account.pw_uid, account.pw_gid)
            self.folder.chmod(0o700)
        self._run(
            str(self.bin / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
        )
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.folder}"
            " -c fsync=on -c max_connections=200"
        )
        self._run(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.folder / "log"),
            "-w",
            "start",
        )
        return self

    def stop(self) -> None:
        """Stop the cluster (fast shutdown) and remove its folder."""
        try:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        """The SQLAlchemy URL of a database of this cluster."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A fresh, empty database; its URL."""
        import psycopg

        name = f"test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(
            f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", autocommit=True
        ) as db:
            db.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)
