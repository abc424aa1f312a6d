"""Local servers for development, tests and benchmarks: Debian's mosquitto and PostgreSQL on loopback.

Each starts on a free port with its data in a fresh temporary folder, answers within a bounded wait or fails
with one line, and is stopped (and its folder removed) by `stop()`. Mosquitto keeps its persistence file in that
folder, so `restart()` brings it back with every queued QoS 1 message. PostgreSQL refuses to run as root: as root
it runs as the `postgres` user (`runuser`), its folder owned by that user. `scripts/services.py` drives them from
the shell; tests/field/conftest.py starts one of each per test session.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tinyml.errors import DEVICE_FAILURE, TinymlError

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0
PG_BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_port(port: int, proc: subprocess.Popen | None, what: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise TinymlError(f"{what} exited at start (code {proc.returncode}): {_tail(log)}", DEVICE_FAILURE)
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TinymlError(f"{what} did not listen on 127.0.0.1:{port} within {START_TIMEOUT_S:g} s: {_tail(log)}",
                      DEVICE_FAILURE)


def _tail(log: Path) -> str:
    try:
        lines = log.read_text(errors="replace").strip().splitlines()
        return lines[-1] if lines else "(no log output)"
    except OSError:
        return "(no log)"


def _tool(name: str) -> str:
    found = shutil.which(name) or next((str(d / name) for d in PG_BIN_DIRS if (d / name).exists()), None)
    if found is None:
        raise TinymlError(f"{name} is not installed (apt-get install mosquitto postgresql, or scripts/setup.sh)",
                          DEVICE_FAILURE)
    return found


@dataclass
class Mosquitto:
    """A mosquitto broker on 127.0.0.1:port with persistence in `folder`."""

    port: int = field(default_factory=free_port)
    folder: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="tinyml-mosquitto-")))
    _proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> Mosquitto:
        conf = self.folder / "mosquitto.conf"
        conf.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
                        f"persistence_location {self.folder}/\nautosave_interval 1\n"
                        "max_queued_messages 0\nmax_inflight_messages 1000\n"  # 0: no limit, never drop QoS 1
                        + ("user root\n" if os.geteuid() == 0 else ""))  # keep access to the temp folder
        log = self.folder / "mosquitto.log"
        self._proc = subprocess.Popen([_tool("mosquitto"), "-c", str(conf)], stdout=log.open("ab"),
                                      stderr=subprocess.STDOUT, start_new_session=True)
        _wait_for_port(self.port, self._proc, "mosquitto", log)
        return self

    def halt(self) -> None:
        """Stops the broker (SIGTERM: it saves its persistence file), keeping its folder for `start()`."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(STOP_TIMEOUT_S)
        self._proc = None

    def stop_pid(self, pid: int) -> None:
        """Stops a broker that another process started (scripts/services.py stop), then removes its folder."""
        try:
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + STOP_TIMEOUT_S
            while time.monotonic() < deadline:
                os.kill(pid, 0)
                time.sleep(0.1)
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        shutil.rmtree(self.folder, ignore_errors=True)

    def restart(self) -> None:
        self.halt()
        self.start()

    def stop(self) -> None:
        self.halt()
        shutil.rmtree(self.folder, ignore_errors=True)


@dataclass
class Postgres:
    """A PostgreSQL cluster on 127.0.0.1:port (trust authentication, user `tinyml`), data in `folder`."""

    port: int = field(default_factory=free_port)
    folder: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="tinyml-postgres-")))

    @property
    def url(self) -> str:
        return f"postgresql://tinyml@127.0.0.1:{self.port}/postgres"

    def _run(self, *cmd: str) -> subprocess.CompletedProcess:
        as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        return subprocess.run([*as_user, *cmd], capture_output=True, text=True, timeout=START_TIMEOUT_S + 30)

    def start(self) -> Postgres:
        data = self.folder / "data"
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres", "postgres")
        if not data.exists():
            proc = self._run(_tool("initdb"), "-D", str(data), "-U", "tinyml", "--auth=trust", "-E", "UTF8",
                             "--no-sync")
            if proc.returncode != 0:
                raise TinymlError(f"initdb failed: {(proc.stderr or proc.stdout).strip().splitlines()[-1:]}",
                                  DEVICE_FAILURE)
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.folder}"
        proc = self._run(_tool("pg_ctl"), "-D", str(data), "-l", str(self.folder / "postgres.log"), "-o", options,
                         "-w", "-t", str(int(START_TIMEOUT_S)), "start")
        if proc.returncode != 0:
            raise TinymlError(f"PostgreSQL did not start: {_tail(self.folder / 'postgres.log')}", DEVICE_FAILURE)
        _wait_for_port(self.port, None, "PostgreSQL", self.folder / "postgres.log")
        return self

    def stop(self) -> None:
        data = self.folder / "data"
        if (data / "postmaster.pid").exists():
            self._run(_tool("pg_ctl"), "-D", str(data), "-m", "fast", "-w", "-t", str(int(STOP_TIMEOUT_S)), "stop")
        shutil.rmtree(self.folder, ignore_errors=True)
