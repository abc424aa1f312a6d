"""Start or stop the field monitor's servers for local work: Debian's mosquitto and PostgreSQL on loopback.

Usage: python scripts/services.py start [--state FILE]   # prints the URLs; writes them and the PIDs to FILE
       python scripts/services.py stop  [--state FILE]

Each server gets a free port and a fresh temporary folder (tinyml.field.servers); `stop` stops both and removes
the folders. The state file (default .field-services.json) remembers what `start` started.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tinyml.errors import TinymlError
from tinyml.field.servers import Mosquitto, Postgres


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["start", "stop"])
    parser.add_argument("--state", type=Path, default=Path(".field-services.json"))
    args = parser.parse_args()
    try:
        if args.action == "start":
            if args.state.exists():
                raise TinymlError(f"{args.state} exists: the servers it names may still run; stop them first")
            broker = Mosquitto().start()
            try:
                database = Postgres().start()
            except TinymlError:
                broker.stop()
                raise
            state = {"mqtt": broker.url, "mosquitto_pid": broker._proc.pid if broker._proc else None,
                     "mosquitto_port": broker.port, "mosquitto_folder": str(broker.folder),
                     "postgresql": database.url, "postgres_port": database.port,
                     "postgres_folder": str(database.folder)}
            args.state.write_text(json.dumps(state, indent=2) + "\n")
            print(f"mqtt: {broker.url}\npostgresql: {database.url}\n(stop: python scripts/services.py stop)")
        else:
            if not args.state.exists():
                raise TinymlError(f"{args.state} not found: nothing started by this script to stop")
            state = json.loads(args.state.read_text())
            broker = Mosquitto(state["mosquitto_port"], Path(state["mosquitto_folder"]))
            broker.stop_pid(state["mosquitto_pid"])
            Postgres(state["postgres_port"], Path(state["postgres_folder"])).stop()
            args.state.unlink()
            print("stopped mosquitto and PostgreSQL")
    except TinymlError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
