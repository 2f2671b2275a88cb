#!/usr/bin/env bash
# Clarity's benchmarks (see docs/benchmarks.md). Not part of ./test.sh.
#
#   bench/run.sh            full run: SQLite and PostgreSQL, 1M-line search, graphile-worker, pg-boss and Hangfire side by side,
#                           fan-out against ws and socket.io, the log tail in Chromium (~20-30 min)
#   bench/run.sh --quick    smoke run: short windows, 100k-line search (~5-8 min)
#
# Scenarios (--only a,b): lifecycle, unit-of-work (#1 without HTTP: the services called in-process), floor (#1 against a bare in-memory ASP.NET Core app), ingest, search, isolation, latency, peer, signin, webhooks, audit, audit-verify,
# workflow-steps, mcp, notifications, memory (the C# harness, bench/Clarity.Bench; --steps/--runs/--agents/--batch go to it), and
# fanout, logtail (node, bench/peers/fanout: Clarity runs as its own `clarity serve` process there).
# Other arguments go to the C# harness, e.g. --backend sqlite. `--backend` with postgres also runs the fan-out
# against Clarity on PostgreSQL.
# On a fresh machine it installs what it needs (PostgreSQL from Debian, node + npm if missing, python3-aiosmtpd for the notification benchmark, Chromium for the log
# tail, the npm peers via npm ci; Hangfire comes from NuGet with the harness), starts a throwaway PostgreSQL cluster on a free port exactly like ./test.sh does,
# builds Release, runs the benchmarks, prints the tables (also written to bench/results/<time>/), and stops the cluster.
set -euo pipefail
cd "$(dirname "$0")/.."

# Installs PostgreSQL (and node and npm when missing) and starts a throwaway cluster exactly as ./test.sh does:
# fsync on, synchronous_commit on (the default), 256 MB shared buffers.
extra_tools=(node:nodejs npm:npm)
source scripts/throwaway-postgres.sh

# Split the arguments: --only picks the scenarios of both harnesses; --quick goes to both; the rest to the C# one.
csharp_all=(lifecycle unit-of-work floor ingest search isolation latency peer pg-floor signin webhooks audit audit-verify workflow-steps mcp notifications memory)
node_all=(fanout logtail)
only=""; quick=(); backend=""; csharp_args=()
while (($#)); do
  case $1 in
    --only) only=${2:?--only needs a list}; shift 2 ;;
    --quick) quick=(--quick); csharp_args+=(--quick); shift ;;
    --backend) backend=${2:?--backend needs a list}; csharp_args+=("$1" "$2"); shift 2 ;;
    *) csharp_args+=("$1"); shift ;;
  esac
done
csharp=(); node=()
for s in ${only//,/ }; do
  if [[ " ${csharp_all[*]} " == *" $s "* ]]; then csharp+=("$s")
  elif [[ " ${node_all[*]} " == *" $s "* ]]; then node+=("$s")
  else echo "$(basename "$0"): unknown scenario '$s' (known: ${csharp_all[*]} ${node_all[*]})" >&2; exit 2
  fi
done
if [[ -z $only ]]; then csharp=("${csharp_all[@]}"); node=("${node_all[@]}"); fi
has() { local x; for x in "${@:2}"; do [[ $x == "$1" ]] && return 0; done; return 1; }

# The queue peers of #5 (scenario "peer"), each pinned by its package-lock.json.
peer_dir=bench/peers/graphile-worker
pgboss_dir=bench/peers/pg-boss
if has peer "${csharp[@]}" && [[ ! -d $peer_dir/node_modules/graphile-worker ]]; then
  log "Installing graphile-worker (npm ci, pinned by package-lock.json)"
  (cd "$peer_dir" && npm ci --no-audit --no-fund --loglevel=error)
fi
if has peer "${csharp[@]}" && [[ ! -d $pgboss_dir/node_modules/pg-boss ]]; then
  log "Installing pg-boss (npm ci, pinned by package-lock.json)"
  (cd "$pgboss_dir" && npm ci --no-audit --no-fund --loglevel=error)
fi
fanout_dir=bench/peers/fanout
if ((${#node[@]})) && ! cmp -s "$fanout_dir/package-lock.json" "$fanout_dir/node_modules/.package-lock.json.ci" 2>/dev/null; then
  log "Installing ws, socket.io, socket.io-client and playwright-core (npm ci, pinned by package-lock.json)"
  (cd "$fanout_dir" && npm ci --no-audit --no-fund --loglevel=error && cp package-lock.json node_modules/.package-lock.json.ci)
fi
if has logtail "${node[@]}" && [[ ! -x /usr/bin/chromium ]]; then
  log "Installing Chromium (Debian) for the log-tail benchmark"
  if [[ $(id -u) -ne 0 ]]; then SUDO=sudo; else SUDO=; fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi

if has notifications "${csharp[@]}" && ! /usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null; then
  log "Installing python3-aiosmtpd (Debian) for the notification benchmark's SMTP server"
  if [[ $(id -u) -ne 0 ]]; then SUDO=sudo; else SUDO=; fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-aiosmtpd >/dev/null
fi

log "Building (Release)"
dotnet build bench/Clarity.Bench/Clarity.Bench.csproj -c Release -nologo -v quiet
clarity_dll=src/Clarity/bin/Release/net10.0/clarity.dll

out="bench/results/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$out"
log "Running the benchmarks ($(nproc) cores, load average now: $(cut -d' ' -f1-3 /proc/loadavg))"
echo "commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown), PostgreSQL $("$pg_bin/postgres" --version | awk '{print $3}'), node $(node --version)"
status=0
if ((${#csharp[@]})); then
  dotnet bench/Clarity.Bench/bin/Release/net10.0/Clarity.Bench.dll \
    --postgres "$postgres" --graphile "$peer_dir" --pg-boss "$pgboss_dir" --out "$out" --only "$(IFS=,; echo "${csharp[*]}")" "${csharp_args[@]}" || status=$?
fi

if has fanout "${node[@]}"; then
  log "Fan-out: 1,000 WebSocket subscribers; Clarity, then ws, then socket.io, one client harness process"
  # 1,000 subscribers plus the servers' side of them: more descriptors than the usual soft limit of 1,024.
  ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
  targets=clarity
  if [[ ,$backend, == *,postgres,* ]]; then
    fanout_db="clarity_fanout_$(date +%s)"
    run_pg "$pg_bin/createdb" -h 127.0.0.1 -p "$pg_port" -U clarity "$fanout_db"
    targets+=",clarity-postgres"
  fi
  node "$fanout_dir/fanout.js" --clarity-dll "$clarity_dll" --out "$out" --targets "$targets,ws,socketio" "${quick[@]}" \
    ${fanout_db:+--database "Host=127.0.0.1;Port=$pg_port;Username=clarity;Database=$fanout_db"} || status=$?
fi

if has logtail "${node[@]}"; then
  log "Log tail: a task page with 100,000 log lines in Chromium"
  node "$fanout_dir/logtail.js" --clarity-dll "$clarity_dll" --out "$out" "${quick[@]}" || status=$?
fi

echo "load average after the run: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "results in $out"
exit $status
