#!/usr/bin/env bash
# The one test command. On a fresh machine it installs what the tests need (PostgreSQL, Chromium for the
# browser tests and npm for the dashboard's front-end build and the webhook receiver, all from Debian), starts a throwaway PostgreSQL
# cluster on a free port, runs the whole suite against SQLite and PostgreSQL (the browser tests included:
# they are in Clarity.sln), and stops the cluster again. Extra arguments go to `dotnet test` (e.g. --filter Name~Checkout).
set -euo pipefail
cd "$(dirname "$0")"

# tool:package pairs that scripts/throwaway-postgres.sh installs with apt-get when the tool is missing.
extra_tools=(npm:npm)
[[ -x /usr/bin/chromium ]] || extra_tools+=(/usr/bin/chromium:chromium)

source scripts/throwaway-postgres.sh
export CLARITY_TEST_POSTGRES="$postgres"
source scripts/promtool.sh   # promtool (from Debian's prometheus package) for the metrics format tests

# The webhook tests' receiver verifies deliveries with the Standard Webhooks reference implementation (npm standardwebhooks).
log "Installing the webhook test receiver's npm packages"
npm ci --prefix tests/Clarity.Tests/Features/Webhooks/receiver --no-audit --no-fund --loglevel=error

log "Building"
dotnet build Clarity.sln -c Release -nologo -v quiet

log "Running the tests (SQLite and PostgreSQL)"
out=$(mktemp /tmp/clarity-test-output.XXXXXX)
set +e
dotnet test Clarity.sln -c Release --no-build -nologo --logger "console;verbosity=normal" "$@" 2>&1 | tee "$out" | grep -vE '^\s*Passed '
status=${PIPESTATUS[0]}
set -e
passed=$(grep -oE '^\s+Passed:\s+[0-9]+' "$out" | awk '{s += $2} END {print s + 0}' || true)
failed=$(grep -oE '^\s+Failed:\s+[0-9]+' "$out" | awk '{s += $2} END {print s + 0}' || true)
rm -f "$out"
echo
echo "$passed passed, $failed failed"
exit "$status"
