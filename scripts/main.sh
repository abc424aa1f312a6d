#!/usr/bin/env bash
# The main job: set up (apt + .venv), then take a model through tinyml end to end and print the report.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python scripts/main.py "$@"
