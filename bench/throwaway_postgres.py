"""A private PostgreSQL server in a temporary directory, for benchmarks that stop and start it.

The machine's shared server (LINECAST_TEST_DATABASE_URL) must never be restarted: other
people's tests run against it. This one is initialised with `initdb`, listens on a free port of
127.0.0.1 with trust authentication, and is removed with its directory on exit. PostgreSQL
refuses to run as root, so as root every binary runs as the `postgres` OS user, which owns the
directory.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from glob import glob
from pathlib import Path
from typing import Literal

StopMode = Literal["fast", "immediate"]


def _binaries() -> Path:
    """The newest installed PostgreSQL's bin directory (Debian layout)."""
    found = sorted(glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(Path(p).parts[4]))
    if not found:
        raise RuntimeError("no PostgreSQL server binaries under /usr/lib/postgresql/*/bin")
    return Path(found[-1]).parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass(frozen=True)
class Cluster:
    """A running throwaway server; `stop` and `start` are what the fault scenarios do to it."""

    root: Path
    port: int
    bin: Path

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def log(self) -> Path:
        return self.root / "server.log"

    def start(self) -> None:
        """Start and wait until it accepts connections."""
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1"
        self._pg_ctl("start", "-w", "-t", "60", "-l", str(self.log), "-o", options)

    def stop(self, mode: StopMode = "fast") -> None:
        """`fast` ends every session and shuts down cleanly; `immediate` is a crash."""
        self._pg_ctl("stop", "-w", "-m", mode)

    def _pg_ctl(self, *args: str) -> None:
        _run([str(self.bin / "pg_ctl"), "-D", str(self.root / "data"), *args])


def _run(command: list[str]) -> None:
    if os.geteuid() == 0:
        command = ["runuser", "-u", "postgres", "--", *command]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)


@contextmanager
def throwaway_cluster() -> Iterator[Cluster]:
    """A new, started server; stopped (as a crash: nothing in it is kept) and deleted after."""
    root = Path(tempfile.mkdtemp(prefix="linecast-pg-"))
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        os.chown(root, owner.pw_uid, owner.pw_gid)
    cluster = Cluster(root=root, port=free_port(), bin=_binaries())
    try:
        # --no-sync: the cluster is thrown away; durability across restarts is PostgreSQL's own
        # (WAL written at commit), which fsync at initdb does not change.
        initdb = [str(cluster.bin / "initdb"), "-D", str(root / "data"), "-U", "postgres"]
        _run([*initdb, "-A", "trust", "--no-sync", "-E", "UTF8"])
        cluster.start()
        yield cluster
    finally:
        if (root / "data" / "postmaster.pid").exists():
            cluster.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)
