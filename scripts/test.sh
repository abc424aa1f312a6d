#!/usr/bin/env bash
# Set up (apt + .venv) and run the whole test suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export TINYML_CACHE="${TINYML_CACHE:-$PWD/.venv/cache}"
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
