#!/usr/bin/env bash
# Before/after: task lifecycles/s and log ingestion of two commits, in one run on one PostgreSQL (docs/benchmarks.md #10).
#
#   bench/compare.sh                 the merge-base with main (before) against the working tree (after), 2 rounds
#   bench/compare.sh <rev> [rounds]  <rev> (before) against the working tree (after)
#   bench/compare.sh --patch NAME=FILE … <rev> [rounds]
#                                    adds a side NAME: HEAD with the patch FILE applied (an ablation, such as the ones in
#                                    bench/ablations/), run in the same rounds and compared with <rev> like the working tree
#   bench/compare.sh --backend postgres …
#                                    only these backends (sqlite,postgres by default)
#   bench/compare.sh --only workflow-steps --server-process …
#                                    these scenarios instead of lifecycle,ingest (any of the harness's --only names;
#                                    the table shows lifecycles/s, ingestion and step transitions/s), and the server in
#                                    its own process where a scenario supports it
#
# It checks <rev> (and HEAD for each patch) out into temporary git worktrees, builds every side's harness
# (bench/Clarity.Bench, which runs Clarity in-process), then alternates them, before, after, patches…, each run doing
# the scenarios asked for (lifecycle and ingestion by default) on each backend asked for, so drift in the machine's load hits every side alike.
# It prints each run's figures and, per backend, the median over rounds with the change from <rev> in percent.
set -euo pipefail
cd "$(dirname "$0")/.."
me=$(basename "$0")
patch_names=() patch_files=() backends=sqlite,postgres scenarios=lifecycle,ingest server_process=()
while [[ ${1:-} == --* ]]; do
  if [[ $1 == --only ]]; then
    [[ ${2:-} =~ ^[a-z0-9-]+(,[a-z0-9-]+)*$ ]] || { echo "$me: --only takes a comma-separated list of scenario names, got '${2:-}'" >&2; exit 2; }
    # The harness's names, from its source, so a typo fails now and not after the worktrees are built.
    known=$(grep -o 'AllScenarios = \[[^]]*\]' bench/Clarity.Bench/Harness/BenchOptions.cs | grep -o '"[a-z0-9-]*"' | tr -d '"' | tr '\n' ' ')
    for name in ${2//,/ }; do
      [[ " $known" == *" $name "* ]] || { echo "$me: unknown scenario '$name' (known: ${known% })" >&2; exit 2; }
    done
    scenarios=$2; shift 2; continue
  fi
  if [[ $1 == --server-process ]]; then
    server_process=(--server-process); shift; continue
  fi
  if [[ $1 == --backend ]]; then
    [[ ${2:-} =~ ^(sqlite|postgres)(,(sqlite|postgres))?$ ]] || { echo "$me: --backend takes sqlite, postgres or both (comma-separated), got '${2:-}'" >&2; exit 2; }
    backends=$2; shift 2; continue
  fi
  [[ $1 == --patch ]] || { echo "$me: unknown option '$1' (options: --patch NAME=FILE, --backend LIST, --only LIST, --server-process)" >&2; exit 2; }
  [[ ${2:-} =~ ^([a-z0-9-]+)=(.+)$ ]] || { echo "$me: --patch takes NAME=FILE (NAME in lower case letters, digits and dashes), got '${2:-}'" >&2; exit 2; }
  [[ ${BASH_REMATCH[1]} != before && ${BASH_REMATCH[1]} != after ]] || { echo "$me: a patch side may not be called '${BASH_REMATCH[1]}'" >&2; exit 2; }
  [[ " ${patch_names[*]} " != *" ${BASH_REMATCH[1]} "* ]] || { echo "$me: two patch sides are called '${BASH_REMATCH[1]}'" >&2; exit 2; }
  [[ -f ${BASH_REMATCH[2]} ]] || { echo "$me: no such patch file: ${BASH_REMATCH[2]}" >&2; exit 2; }
  patch_names+=("${BASH_REMATCH[1]}"); patch_files+=("$(realpath "${BASH_REMATCH[2]}")")
  shift 2
done
before_rev=${1:-$(git merge-base HEAD main)}
rounds=${2:-2}
[[ $rounds =~ ^[1-9][0-9]*$ ]] || { echo "$me: rounds must be a positive number, got '$rounds'" >&2; exit 2; }
git rev-parse --verify --quiet "$before_rev^{commit}" >/dev/null || { echo "$me: '$before_rev' is not a commit" >&2; exit 2; }

source scripts/throwaway-postgres.sh

worktrees=()
cleanup_worktrees() { for w in "${worktrees[@]}"; do git worktree remove --force "$w" >/dev/null 2>&1 || rm -rf "$w"; done; }
# Replaces the throwaway cluster's EXIT trap, so it calls that too.
trap 'cleanup_worktrees; stop_throwaway_postgres' EXIT
before_dir=$(mktemp -d /tmp/clarity-before.XXXXXX)
worktrees+=("$before_dir")
git worktree add --detach "$before_dir" "$before_rev" >/dev/null
sides=(before after)
declare -A side_dir=([before]=$before_dir [after]=.)
for i in "${!patch_names[@]}"; do
  dir=$(mktemp -d "/tmp/clarity-${patch_names[$i]}.XXXXXX")
  worktrees+=("$dir")
  git worktree add --detach "$dir" HEAD >/dev/null
  git -C "$dir" apply "${patch_files[$i]}" || { echo "$me: ${patch_files[$i]} does not apply to HEAD" >&2; exit 2; }
  sides+=("${patch_names[$i]}"); side_dir[${patch_names[$i]}]=$dir
done

log "Building before ($(git rev-parse --short "$before_rev")), after (working tree of $(git rev-parse --short HEAD))${patch_names:+ and ${patch_names[*]} (HEAD with a patch)}"
for side in "${sides[@]}"; do
  dotnet build "${side_dir[$side]}/bench/Clarity.Bench/Clarity.Bench.csproj" -c Release -nologo -v quiet
done

out="$PWD/bench/results/compare-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$out"
log "Running $rounds rounds ($(nproc) cores, load average now: $(cut -d' ' -f1-3 /proc/loadavg))"
for ((r = 1; r <= rounds; r++)); do
  for side in "${sides[@]}"; do
    dir=${side_dir[$side]}
    log "Round $r: $side"
    # A failed scenario is reported by the harness; the other figures still count.
    # From the side's own tree: the harness finds the server it starts (--server-process) under the current folder.
    (cd "$dir" && dotnet bench/Clarity.Bench/bin/Release/net10.0/Clarity.Bench.dll \
      --postgres "$postgres" --backend "$backends" --out "$out/$side-$r" --only "$scenarios" "${server_process[@]}") || echo "(round $r, $side: a scenario failed; see above)"
  done
done

python3 - "$out" "$rounds" "${sides[@]}" <<'PY'
import json, os, statistics, sys
out, rounds, sides = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
metrics = ["lifecycles/s", "acknowledged lines/s", "lifecycle latency p50", "append request p50 / p99",
           "plain: step transitions/s", "eager: step transitions/s", "plain: machine CPU per step", "eager: machine CPU per step"]
values = {}
for side in sides:
    for r in range(1, rounds + 1):
        path = f"{out}/{side}-{r}/results.json"
        if not os.path.exists(path):
            continue
        for f in json.load(open(path))["figures"]:
            # Only the plain scenarios: newer harnesses also report 1b (complete returns next) under the same metric names.
            if f["metric"] in metrics and not f.get("scenario", "").startswith("1b."):
                values.setdefault((f["metric"], f["backend"]), {}).setdefault(side, []).append(f["value"])
others = sides[1:]
lines = ["| metric | backend | before (median) | " + " | ".join(f"{o} (median) | change" for o in others) + " | runs " + " / ".join(sides) + " |",
         "|---|---|---:|" + "---:|---:|" * len(others) + "---|"]
for (metric, backend), v in sorted(values.items()):
    b = statistics.median(v.get("before", [0]))
    cells = []
    for o in others:
        a = statistics.median(v.get(o, [0]))
        cells += [f"{a:,.1f}", f"{(a - b) / b * 100:+.1f} %" if b else "n/a"]
    runs = " / ".join(", ".join(f"{x:,.0f}" for x in v.get(s, [])) for s in sides)
    lines.append(f"| {metric} | {backend} | {b:,.1f} | " + " | ".join(cells) + f" | {runs} |")
table = "\n".join(lines)
print("\n" + table)
open(f"{out}/compare.md", "w").write(table + "\n")
PY
echo "load average after the run: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "results in $out"
