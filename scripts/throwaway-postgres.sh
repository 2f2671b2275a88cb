# Sourced by ./test.sh and bench/run.sh. Installs the given Debian packages when missing (PostgreSQL always),
# then starts a throwaway PostgreSQL cluster on a free loopback port and stops it when the calling script exits.
# Afterwards: $pg_bin (the server binaries), $pg_port, and $postgres, an admin connection string.
#
#   extra_tools=(node:nodejs npm:npm)   # optional, before sourcing: command:Debian package
#   source scripts/throwaway-postgres.sh

log() { printf '\n==> %s\n' "$*"; }

need_apt=()
pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
[[ -n "$pg_bin" && -x "$pg_bin/initdb" ]] || need_apt+=(postgresql)
for tool in "${extra_tools[@]:-}"; do
  [[ -z "$tool" ]] || command -v "${tool%%:*}" >/dev/null || need_apt+=("${tool#*:}")
done
command -v dotnet >/dev/null || { echo "$(basename "$0"): the .NET SDK (dotnet) is required" >&2; exit 1; }
if ((${#need_apt[@]})); then
  log "Installing ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if [[ $(id -u) -ne 0 ]]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
  pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
fi

# A throwaway cluster in a temp folder, owned by an unprivileged user when we are root (initdb refuses root).
pg_dir=$(mktemp -d /tmp/clarity-pg.XXXXXX)
pg_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
run_pg() { if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }
if [[ $(id -u) -eq 0 ]]; then
  id postgres >/dev/null 2>&1 || useradd --system --home "$pg_dir" postgres
  chown postgres "$pg_dir"
fi
stop_throwaway_postgres() {
  run_pg "$pg_bin/pg_ctl" -D "$pg_dir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$pg_dir"
}
trap stop_throwaway_postgres EXIT

log "Starting a throwaway PostgreSQL on 127.0.0.1:$pg_port"
run_pg "$pg_bin/initdb" -D "$pg_dir/data" -U clarity --auth=trust -E UTF8 --no-locale >/dev/null
run_pg "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/postgres.log" -w \
  -o "-p $pg_port -k $pg_dir -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=on -c shared_buffers=256MB" start >/dev/null
postgres="Host=127.0.0.1;Port=$pg_port;Username=clarity;Database=postgres"
