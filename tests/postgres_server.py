"""A real PostgreSQL server for the tests: Debian's binaries, a temporary cluster on loopback.

`scripts/test.sh` installs Debian's ``postgresql`` package when its ``initdb`` is missing.
The cluster lives in a temporary folder, listens on 127.0.0.1 at a free port, trusts
loopback connections (it holds only test data) and is removed when the test session ends.
Each test that asks for `pg_url` gets a database of its own.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.vllm_servers import free_port

__all__ = ["PostgresServer", "pg_server", "pg_url"]


def _bin(name: str) -> str:
    """A PostgreSQL server program (Debian keeps them under /usr/lib/postgresql/<v>/bin)."""
    versions = sorted(
        Path("/usr/lib/postgresql").glob(f"*/bin/{name}"),
        key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0,
    )
    found = str(versions[-1]) if versions else shutil.which(name)
    if not found:
        raise RuntimeError(
            f"PostgreSQL's {name} is not installed; scripts/test.sh installs Debian's "
            "postgresql package (apt-get install postgresql)"
        )
    return found


class PostgresServer:
    """One temporary cluster; `database()` makes an empty database and returns its URL."""

    user = "medassist"

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="medassist-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self._as: list[str] = []
        if os.geteuid() == 0:  # initdb refuses to run as root
            account = pwd.getpwnam("postgres")
            os.chown(self.root, account.pw_uid, account.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]

    def _run(self, *cmd: str) -> None:
        subprocess.run([*self._as, *cmd], check=True, capture_output=True, cwd=self.root)

    def start(self) -> None:
        """initdb, then start the server and wait until it accepts connections."""
        self._run(
            _bin("initdb"), "-D", str(self.data), "-U", self.user, "--auth=trust",
            "--no-sync", "-E", "UTF8", "--locale=C.UTF-8",
        )  # fmt: skip
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c max_connections=300"
        )
        self._run(
            _bin("pg_ctl"), "-D", str(self.data), "-o", options, "-l",
            str(self.root / "server.log"), "-w", "-t", "60", "start",
        )  # fmt: skip

    def url(self, database: str = "postgres") -> str:
        """The URL of one database of this cluster."""
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def database(self) -> str:
        """Create an empty database; its URL."""
        name = "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def stop(self) -> None:
        """Stop the server at once and delete the cluster."""
        if (self.data / "postmaster.pid").exists():
            subprocess.run(
                [*self._as, _bin("pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"],
                check=False, capture_output=True, cwd=self.root,
            )  # fmt: skip
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """One PostgreSQL cluster for the whole test session."""
    server = PostgresServer()
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_url(pg_server: PostgresServer) -> str:
    """A fresh, empty database of the session's cluster."""
    return pg_server.database()
