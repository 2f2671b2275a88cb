#!/usr/bin/env bash
# Clarity's benchmarks (see docs/benchmarks.md). Not part of ./test.sh.
#
#   bench/run.sh            full run: SQLite and PostgreSQL, 1M-line search, graphile-worker side by side (~15-25 min)
#   bench/run.sh --quick    smoke run: short windows, 100k-line search (~3-5 min)
#
# Other arguments go to the harness, e.g. --only lifecycle,latency or --backend sqlite.
# On a fresh machine it installs what it needs (PostgreSQL from Debian, node + npm if missing, graphile-worker
# via npm ci), starts a throwaway PostgreSQL cluster on a free port exactly like ./test.sh does, builds Release,
# runs the harness, prints the tables (also written to bench/results/<time>/), and stops the cluster.
set -euo pipefail
cd "$(dirname "$0")/.."

# Installs PostgreSQL (and node and npm when missing) and starts a throwaway cluster exactly as ./test.sh does:
# fsync on, synchronous_commit on (the default), 256 MB shared buffers.
extra_tools=(node:nodejs npm:npm)
source scripts/throwaway-postgres.sh

peer_dir=bench/peers/graphile-worker
if [[ ! -d $peer_dir/node_modules/graphile-worker ]]; then
  log "Installing graphile-worker (npm ci, pinned by package-lock.json)"
  (cd "$peer_dir" && npm ci --no-audit --no-fund --loglevel=error)
fi

log "Building (Release)"
dotnet build bench/Clarity.Bench/Clarity.Bench.csproj -c Release -nologo -v quiet

out="bench/results/$(date -u +%Y%m%dT%H%M%SZ)"
log "Running the benchmarks ($(nproc) cores, load average now: $(cut -d' ' -f1-3 /proc/loadavg))"
echo "commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown), PostgreSQL $("$pg_bin/postgres" --version | awk '{print $3}'), node $(node --version)"
dotnet bench/Clarity.Bench/bin/Release/net10.0/Clarity.Bench.dll \
  --postgres "$postgres" --graphile "$peer_dir" --out "$out" "$@"
echo "load average after the run: $(cut -d' ' -f1-3 /proc/loadavg)"
