#!/usr/bin/env bash
# Before/after: task lifecycles/s and log ingestion of two commits, in one run on one PostgreSQL (docs/benchmarks.md #10).
#
#   bench/compare.sh                 the merge-base with main (before) against the working tree (after), 2 rounds
#   bench/compare.sh <rev> [rounds]  <rev> (before) against the working tree (after)
#
# It checks <rev> out into a temporary git worktree, builds both harnesses (bench/Clarity.Bench, which runs Clarity
# in-process), then alternates them, before, after, before, after…, each run doing the lifecycle and ingestion
# scenarios on SQLite and PostgreSQL, so drift in the machine's load hits both sides alike. It prints each run's
# figures and, per backend, the median over rounds with the change in percent.
set -euo pipefail
cd "$(dirname "$0")/.."
before_rev=${1:-$(git merge-base HEAD main)}
rounds=${2:-2}
[[ $rounds =~ ^[1-9][0-9]*$ ]] || { echo "$(basename "$0"): rounds must be a positive number, got '$rounds'" >&2; exit 2; }
git rev-parse --verify --quiet "$before_rev^{commit}" >/dev/null || { echo "$(basename "$0"): '$before_rev' is not a commit" >&2; exit 2; }

source scripts/throwaway-postgres.sh

before_dir=$(mktemp -d /tmp/clarity-before.XXXXXX)
cleanup_before() { git worktree remove --force "$before_dir" >/dev/null 2>&1 || rm -rf "$before_dir"; }
# Replaces the throwaway cluster's EXIT trap, so it calls that too.
trap 'cleanup_before; stop_throwaway_postgres' EXIT
git worktree add --detach "$before_dir" "$before_rev" >/dev/null

log "Building before ($(git rev-parse --short "$before_rev")) and after (working tree of $(git rev-parse --short HEAD))"
dotnet build "$before_dir/bench/Clarity.Bench/Clarity.Bench.csproj" -c Release -nologo -v quiet
dotnet build bench/Clarity.Bench/Clarity.Bench.csproj -c Release -nologo -v quiet

out="bench/results/compare-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$out"
log "Running $rounds rounds ($(nproc) cores, load average now: $(cut -d' ' -f1-3 /proc/loadavg))"
for ((r = 1; r <= rounds; r++)); do
  for side in before after; do
    dir=.; [[ $side == before ]] && dir=$before_dir
    log "Round $r: $side"
    # A failed scenario is reported by the harness; the other figures still count.
    dotnet "$dir/bench/Clarity.Bench/bin/Release/net10.0/Clarity.Bench.dll" \
      --postgres "$postgres" --out "$out/$side-$r" --only lifecycle,ingest || echo "(round $r, $side: a scenario failed; see above)"
  done
done

python3 - "$out" "$rounds" <<'PY'
import json, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
metrics = ["lifecycles/s", "acknowledged lines/s", "lifecycle latency p50", "append request p50 / p99"]
values = {}
for side in ("before", "after"):
    for r in range(1, rounds + 1):
        for f in json.load(open(f"{out}/{side}-{r}/results.json"))["figures"]:
            # Only the plain scenarios: newer harnesses also report 1b (complete returns next) under the same metric names.
            if f["metric"] in metrics and not f.get("scenario", "").startswith("1b."):
                values.setdefault((f["metric"], f["backend"]), {}).setdefault(side, []).append(f["value"])
lines = ["| metric | backend | before (median) | after (median) | change | runs before / after |", "|---|---|---:|---:|---:|---|"]
for (metric, backend), v in sorted(values.items()):
    b, a = statistics.median(v.get("before", [0])), statistics.median(v.get("after", [0]))
    change = f"{(a - b) / b * 100:+.1f} %" if b else "n/a"
    runs = ", ".join(f"{x:,.0f}" for x in v.get("before", [])) + " / " + ", ".join(f"{x:,.0f}" for x in v.get("after", []))
    lines.append(f"| {metric} | {backend} | {b:,.1f} | {a:,.1f} | {change} | {runs} |")
table = "\n".join(lines)
print("\n" + table)
open(f"{out}/compare.md", "w").write(table + "\n")
PY
echo "load average after the run: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "results in $out"
