#!/usr/bin/env bash
# Set up (apt + .venv), check the code's rules, then run the whole test suite (what CI runs). Extra arguments go to
# the last pytest run (and skip the sanitizer run).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export TINYML_CACHE="${TINYML_CACHE:-$PWD/.venv/cache}"

# The package's rules: lint and import order (ruff, pyproject.toml), the wings' import contracts (import-linter,
# setup.cfg; docs/ARCHITECTURE.md).
.venv/bin/ruff check --quiet toolkit tests scripts models firmware/platformio
.venv/bin/lint-imports --no-cache >/dev/null || .venv/bin/lint-imports --no-cache

# The kernel tests with AddressSanitizer + UBSan in every host build (TINYML_HOST_SANITIZE, see
# docs/ARCHITECTURE.md "C runtime"): a bounds error or UB in a kernel fails here before it corrupts a board.
# test_sanitize.py first proves the flags bite. Only for the whole suite (no extra arguments).
if [ $# -eq 0 ]; then
  TINYML_HOST_SANITIZE=1 .venv/bin/python -m pytest -q -p no:cacheprovider -n 2 --dist load \
    tests/codegen/test_sanitize.py tests/codegen/test_kernels.py tests/codegen/test_kernels_dsp.py \
    tests/codegen/test_mean.py tests/codegen/test_inplace.py tests/codegen/test_kernels_s16.py \
    tests/codegen/test_lstm.py tests/codegen/test_quantize_rounding.py -k "not (test_inplace and dsp)"
fi

# Two workers (pytest-xdist), one test file each at a time, so module fixtures are built once: most tests wait on a
# compiler or an emulator, and the two cores CI has are both kept busy.
exec .venv/bin/python -m pytest -q -p no:cacheprovider -n 2 --dist loadfile --durations=25 "$@"
