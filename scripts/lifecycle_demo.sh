#!/usr/bin/env bash
# The lifecycle end to end, from a fresh clone (after scripts/setup.sh): train -> register -> build for two boards ->
# canary to 3 emulated devices -> promote to all; then a version over the fleet's latency budget is deployed and
# rolled back automatically, every device back on the previous version as the devices themselves report.
#
# Usage: bash scripts/lifecycle_demo.sh [WORKDIR]     (default: a new temporary folder; it is kept)
# Prints a short table at the end, and the wall time of each step (docs/LIFECYCLE.md, "Rollout").
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TINYML="$REPO/.venv/bin/tinyml"
PYTHON="$REPO/.venv/bin/python"
WORK="${1:-$(mktemp -d -t tinyml-lifecycle-XXXXXX)}"
export TINYML_CACHE="${TINYML_CACHE:-$REPO/.venv/cache}"
unset MLFLOW_TRACKING_URI TINYML_NO_TRACK     # the local store: WORK/.tinyml/
mkdir -p "$WORK"
cd "$WORK"
echo "lifecycle demo in $WORK"

START=$SECONDS
step() { echo; echo "== [$((SECONDS - START)) s] $*"; }

# 1. Two trained models: the version in production, and a 4x wider one (more accurate on paper, too slow for
#    the fleet). The quickest settings the tests use: the gesture recipe on the reduced data set, 2 epochs.
step "train and quantize"
"$TINYML" train gesture --small-data --epochs 2 --seed 0 --width 0.25 -o narrow > /dev/null
"$TINYML" quantize narrow -o narrow/model.tflite > /dev/null
"$TINYML" train gesture --small-data --epochs 2 --seed 0 --width 1.0 -o wide > /dev/null
"$TINYML" quantize wide -o wide/model.tflite > /dev/null

# 2. Register both; each registration builds the firmware for both boards with the version's identity.
step "register gesture@1 and gesture@2, firmware for mps2-an386 and mps2-an385"
"$TINYML" registry register narrow --name gesture --board mps2-an386 --board mps2-an385 > /dev/null
"$TINYML" registry register wide --name gesture --board mps2-an386 --board mps2-an385 > /dev/null
"$TINYML" registry ls

# 3. The fleet: 3 emulated devices on two boards, one canary. Its latency budget: 25 % over what version 1 runs
#    on each board (instructions per inference, measured in QEMU with -icount).
step "measure version 1 and write fleet.toml"
for board in mps2-an386 mps2-an385; do
  "$TINYML" bench narrow/model.tflite --board "$board" --runs 3 --json > "bench-$board.json"
done
"$PYTHON" - <<'EOF'
import json
budget = {b: round(1.25 * json.load(open(f"bench-{b}.json"))["instructions_per_inference"])
          for b in ("mps2-an386", "mps2-an385")}
devices = "".join(f'[[devices]]\nid = "em-{i}"\nboard = "{b}"\nemulated = true\n\n'
                  for i, b in enumerate(("mps2-an386", "mps2-an385", "mps2-an386"), 1))
open("fleet.toml", "w").write(
    "[rollout]\nstages = [0.5]\nvectors = 3\n\n[rollout.max_instructions]\n"
    + "".join(f'{b} = {n}\n' for b, n in budget.items())
    + '\n[cohorts]\ncanary = ["em-1"]\n\n' + devices)
print("latency budget (instructions per inference):", budget)
EOF

step "start 3 emulated devices"
"$TINYML" fleet emulate --fleet fleet.toml start --lifetime 3600
trap '"$TINYML" fleet emulate --fleet fleet.toml stop > /dev/null' EXIT

# 4. Canary, then half, then all.
step "deploy gesture@1: canary -> 50% -> all"
"$TINYML" deploy gesture@1 --fleet fleet.toml
"$TINYML" fleet probe --fleet fleet.toml

# 5. The wide version: the canary is over budget, the rollout aborts and rolls back (exit code 4).
step "deploy gesture@2 (over the latency budget): expect an automatic rollback"
set +e
"$TINYML" deploy gesture@2 --fleet fleet.toml
code=$?
set -e
if [ "$code" -ne 4 ]; then
  echo "FAIL: deploy of gesture@2 exited with $code, expected 4 (rolled back)"; exit 1
fi

step "what the devices report, and the registry"
"$TINYML" fleet probe --fleet fleet.toml --json > reports.json
"$TINYML" registry ls --json > registry.json
"$TINYML" rollout status --all
"$PYTHON" - <<'EOF'
import json
reports = json.load(open("reports.json"))
aliases = json.load(open("registry.json"))[0]["aliases"]
print(f"\n{'device':8} {'board':12} {'reports (INFO)':16}")
for d in reports:
    print(f"{d['id']:8} {d['board']:12} {d['reports'] or '-':16}")
print("registry aliases:", aliases)
assert all(d["reports"] == "gesture@1" for d in reports), "a device is not back on gesture@1"
assert str(aliases.get("production")) == "1" and "canary" not in aliases, aliases
print("OK: every device reports gesture@1; production is version 1; gesture@2 never reached production")
EOF
echo "total: $((SECONDS - START)) s"
