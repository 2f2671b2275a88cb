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

log() { printf '\n==> %s\n' "$*"; }

need_apt=()
pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
[[ -n "$pg_bin" && -x "$pg_bin/initdb" ]] || need_apt+=(postgresql)
command -v node >/dev/null || need_apt+=(nodejs)
command -v npm >/dev/null || need_apt+=(npm)
command -v dotnet >/dev/null || { echo "bench/run.sh: the .NET SDK (dotnet) is required" >&2; exit 1; }
if ((${#need_apt[@]})); then
  log "Installing ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if [[ $(id -u) -ne 0 ]]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
  pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
fi

peer_dir=bench/peers/graphile-worker
if [[ ! -d $peer_dir/node_modules/graphile-worker ]]; then
  log "Installing graphile-worker (npm ci, pinned by package-lock.json)"
  (cd "$peer_dir" && npm ci --no-audit --no-fund --loglevel=error)
fi

# A throwaway cluster in a temp folder, owned by an unprivileged user when we are root (initdb refuses root).
# Same settings as ./test.sh: fsync on, synchronous_commit on (the default), 256 MB shared buffers.
pg_dir=$(mktemp -d /tmp/clarity-bench-pg.XXXXXX)
pg_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
run_pg() { if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }
if [[ $(id -u) -eq 0 ]]; then
  id postgres >/dev/null 2>&1 || useradd --system --home "$pg_dir" postgres
  chown postgres "$pg_dir"
fi
cleanup() {
  run_pg "$pg_bin/pg_ctl" -D "$pg_dir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$pg_dir"
}
trap cleanup EXIT

log "Starting a throwaway PostgreSQL on 127.0.0.1:$pg_port"
run_pg "$pg_bin/initdb" -D "$pg_dir/data" -U clarity --auth=trust -E UTF8 --no-locale >/dev/null
run_pg "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/postgres.log" -w \
  -o "-p $pg_port -k $pg_dir -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=on -c shared_buffers=256MB" start >/dev/null
postgres="Host=127.0.0.1;Port=$pg_port;Username=clarity;Database=postgres"

log "Building (Release)"
dotnet build bench/Clarity.Bench/Clarity.Bench.csproj -c Release -nologo -v quiet

out="bench/results/$(date -u +%Y%m%dT%H%M%SZ)"
log "Running the benchmarks ($(nproc) cores, load average now: $(cut -d' ' -f1-3 /proc/loadavg))"
echo "commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown), PostgreSQL $("$pg_bin/postgres" --version | awk '{print $3}'), node $(node --version)"
dotnet bench/Clarity.Bench/bin/Release/net10.0/Clarity.Bench.dll \
  --postgres "$postgres" --graphile "$peer_dir" --out "$out" "$@"
echo "load average after the run: $(cut -d' ' -f1-3 /proc/loadavg)"
