#!/usr/bin/env bash
# CI: `difflab sweep submit --slurm` for real. Starts a one-node Slurm cluster on localhost (Debian
# slurm-wlm + munge, tools/nx-sweep/slurm-localhost.sh), submits the smoke preset, waits, checks that
# every array task and the table job completed and that the table job (gather + fits) started after
# the last array task ended, then stops what it started. Needs root (apt-get, daemons).
# Time: the smoke chain's (a few minutes on 2 cores; seconds when `nx run dit-scaling:table-smoke`
# already filled the Nx cache) plus the package install. The sweep's projects are inferred by tools/nx-studies.
set -euo pipefail
cd "$(dirname "$0")/.."
export NX_DAEMON=false NX_NO_CLOUD=true
SWEEP=experiments/dit-scaling/sweep.json
PRESET=smoke
TIMEOUT_S=${SLURM_CHECK_TIMEOUT_S:-1800}

say() { echo "slurm-check: $*"; }
[ "$(id -u)" = 0 ] || { say "run as root (it installs packages and starts munged, slurmctld and slurmd)"; exit 1; }
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null; then
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends slurm-wlm munge
fi
# A cluster this script did not start is not ours to reconfigure or stop.
if sinfo -h >/dev/null 2>&1; then say "a Slurm controller already answers here; refusing to touch it"; exit 1; fi

conf=/etc/slurm/slurm.conf
backup=""
if [ -e "$conf" ]; then backup=$(mktemp); cp -p "$conf" "$backup"; fi
munge_was_running=false
pgrep -x munged >/dev/null && munge_was_running=true

teardown() {
  local rc=$?
  scontrol shutdown >/dev/null 2>&1 || true
  for _ in $(seq 30); do pgrep -x slurmctld >/dev/null || pgrep -x slurmd >/dev/null || break; sleep 1; done
  for pidfile in /run/slurmctld.pid /run/slurmd.pid; do
    [ -s "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null || true
  done
  if [ "$munge_was_running" = false ] && [ -s /run/munge/munged.pid ]; then kill "$(cat /run/munge/munged.pid)" 2>/dev/null || true; fi
  if [ -n "$backup" ]; then mv "$backup" "$conf"; else rm -f "$conf"; fi
  say "cluster stopped"
  exit "$rc"
}
trap teardown EXIT

bash tools/nx-sweep/slurm-localhost.sh
submitted_at=$(date +%s)
out=$(node apps/cli/bin/difflab.js sweep submit --preset "$PRESET" --slurm)
echo "$out"
array=$(sed -nE 's/^submitted job array ([0-9]+) .*/\1/p' <<<"$out")
table=$(sed -nE 's/.* and table job ([0-9]+) .*/\1/p' <<<"$out")
[ -n "$array" ] && [ -n "$table" ] || { say "could not read the job ids from: $out"; exit 1; }

say "waiting for array $array and table job $table (timeout ${TIMEOUT_S}s)"
while [ -n "$(squeue -h -j "$array,$table" 2>/dev/null)" ]; do
  if (( $(date +%s) - submitted_at > TIMEOUT_S )); then say "timed out"; squeue; scancel "$array" "$table" || true; exit 1; fi
  sleep 5
done

# Finished jobs stay in slurmctld's memory for MinJobAge (300 s); no accounting database needed.
fail=0
field() { grep -oE "(^| )$1=[^ ]+" <<<"$2" | head -1 | cut -d= -f2; }
tasks=$(scontrol -o show job "$array")
expected=$(node apps/cli/bin/difflab.js sweep plan --preset "$PRESET" | tail -n +2 | wc -l)
count=$(grep -c . <<<"$tasks")
[ "$count" = "$expected" ] || { say "array $array has $count tasks, the preset plans $expected runs"; fail=1; }
last_end=0
while read -r line; do
  state=$(field JobState "$line"); code=$(field ExitCode "$line"); end=$(date -d "$(field EndTime "$line")" +%s)
  (( end > last_end )) && last_end=$end
  if [ "$state" != COMPLETED ] || [ "$code" != 0:0 ]; then say "array task $(field JobId "$line")_$(field ArrayTaskId "$line"): $state exit $code"; fail=1; fi
done <<<"$tasks"
tline=$(scontrol -o show job "$table")
tstate=$(field JobState "$tline"); tstart=$(date -d "$(field StartTime "$tline")" +%s)
[ "$tstate" = COMPLETED ] || { say "table job $table: $tstate"; fail=1; }
(( tstart >= last_end )) || { say "table job started before the last array task ended"; fail=1; }
log="$(dirname "$SWEEP")/runs/slurm/$PRESET/table-$table.out"
plain=$(sed 's/\x1b\[[0-9;]*m//g' "$log")  # Nx colours its output when CI is set
grep -q "nx run dit-scaling-$PRESET:gather" <<<"$plain" && grep -q "Successfully ran target table for project dit-scaling-$PRESET" <<<"$plain" \
  || { say "$log does not show dit-scaling-$PRESET:gather and :table succeeding"; fail=1; }
results="$(dirname "$SWEEP")/results/$PRESET"
for f in runs.parquet frontier.parquet frontier-fid.parquet power/fit.md power-fid/fit.md isoflop/fit.md; do
  [ -s "$results/$f" ] || { say "missing $results/$f"; fail=1; }
done
[ "$fail" = 0 ] || exit 1
say "ok: $count array tasks COMPLETED (exit 0:0), table job $table COMPLETED after them, gather and fits written ($(( $(date +%s) - submitted_at )) s)"
