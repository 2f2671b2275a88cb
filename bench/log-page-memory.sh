#!/usr/bin/env bash
# The server's memory while clients read big log pages (docs/benchmarks.md, "Log pages: memory").
#
#   bench/log-page-memory.sh [BUILD_DIR] [READERS] [MAX_PAGE_BYTES]
#
# Starts `clarity serve` from BUILD_DIR (default: the Release build of src/Clarity) on SQLite in a temp folder, fills
# one task with 10,000 log lines of 64 KiB (the largest line the server accepts by default: 625 MiB of text), restarts
# the server so that the ingestion leaves nothing behind in its heap, then runs READERS (default 4) concurrent
# `GET …/tasks/{id}/logs?limit=10000`, each read to the end by curl. It prints the server's resident memory before
# the reads (VmRSS) and its peak during them (VmHWM, from /proc), and what each reader received. MAX_PAGE_BYTES sets
# Limits:MaxLogPageBytes (e.g. 1073741824, so that one page holds the whole log); unset, the server's default holds.
set -euo pipefail
cd "$(dirname "$0")/.."

build=${1:-src/Clarity/bin/Release/net10.0}
readers=${2:-4}
page_bytes=${3:-}
lines=10000
batch=100
line_bytes=65536

work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"

start() {
  local settings=(CLARITY_URLS="$base" CLARITY_DATADIRECTORY="$work/data" CLARITY_LIMITS__MAXREQUESTBODYBYTES=$((16 << 20)))
  [[ -n $page_bytes ]] && settings+=(CLARITY_LIMITS__MAXLOGPAGEBYTES="$page_bytes")
  env "${settings[@]}" "$build/clarity" serve >"$work/server.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do curl -sf "$base/healthz" >/dev/null && return; sleep 0.2; done
  echo "the server did not start:" >&2; cat "$work/server.log" >&2; exit 1
}

stop() { kill "$pid"; wait "$pid" 2>/dev/null || true; }

mib() { awk -v kb="$(grep "^$1:" "/proc/$pid/status" | awk '{print $2}')" 'BEGIN { printf "%.0f MiB", kb / 1024 }'; }

start
curl -sf -X POST "$base/api/v1/setup" -H 'Content-Type: application/json' \
  -d '{"org":"acme","orgName":"Acme","email":"owner@acme.example","password":"owner-password-123"}' >/dev/null
token=$(curl -sf -X POST "$base/api/v1/auth/login" -H 'Content-Type: application/json' \
  -d '{"email":"owner@acme.example","password":"owner-password-123"}' | jq -r .token)
auth=(-H "Authorization: Bearer $token" -H 'Content-Type: application/json')
task=$(curl -sf "${auth[@]}" -X POST "$base/api/v1/orgs/acme/tasks" -d '{"queue":"memory","title":"big log"}' | jq -r .id)
curl -sf "${auth[@]}" -X POST "$base/api/v1/orgs/acme/work/checkout" -d '{"agent":"filler","queues":["memory"]}' >/dev/null

# One batch of 100 lines of 64 KiB each: words of 1,023 letters and a space, so that full-text indexing stays cheap.
python3 - "$batch" "$line_bytes" >"$work/batch.json" <<'EOF'
import json, sys
count, size = int(sys.argv[1]), int(sys.argv[2])
word = "x" * 1023 + " "
print(json.dumps([{"text": (word * (size // len(word) + 1))[:size]} for _ in range(count)]))
EOF
for _ in $(seq 1 $((lines / batch))); do
  curl -sf "${auth[@]}" -X POST "$base/api/v1/orgs/acme/tasks/$task/logs" --data-binary "@$work/batch.json" >/dev/null
done

stop
start
# One small read first, so that the server's code paths are loaded before the baseline is taken.
curl -sf -H "Authorization: Bearer $token" "$base/api/v1/orgs/acme/tasks/$task/logs?limit=1" >/dev/null
sleep 2
echo "readers: $readers concurrent GET …/logs?limit=$lines over $lines lines of $line_bytes bytes${page_bytes:+, Limits:MaxLogPageBytes $page_bytes}"
echo "before the reads: VmRSS $(mib VmRSS)"
for i in $(seq 1 "$readers"); do
  curl -s -o "$work/page$i.json" -w "reader $i: HTTP %{http_code}, %{size_download} bytes in %{time_total} s\n" \
    -H "Authorization: Bearer $token" "$base/api/v1/orgs/acme/tasks/$task/logs?limit=$lines" &
done
wait $(jobs -p | grep -v "^$pid$")
for i in $(seq 1 "$readers"); do
  echo "reader $i: $(jq '.entries | length' "$work/page$i.json") entries, nextAfterSeq $(jq '.nextAfterSeq' "$work/page$i.json")"
done
echo "after the reads: VmRSS $(mib VmRSS), peak (VmHWM since the restart) $(mib VmHWM)"
