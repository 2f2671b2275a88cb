#!/usr/bin/env bash
# The one test command. On a fresh machine it installs what the tests need (PostgreSQL, Chromium for the
# browser tests and npm for the dashboard's front-end build and the webhook receiver, all from Debian), starts a throwaway PostgreSQL
# cluster on a free port, runs the whole suite against SQLite and PostgreSQL (the integration tests, then the browser tests:
# both built from Clarity.sln), and stops the cluster again. Extra arguments go to `dotnet test` (e.g. --filter Name~Checkout).
set -euo pipefail
cd "$(dirname "$0")"

# tool:package pairs that scripts/throwaway-postgres.sh installs with apt-get when the tool is missing.
extra_tools=(npm:npm /usr/bin/aiosmtpd:python3-aiosmtpd)
[[ -x /usr/bin/chromium ]] || extra_tools+=(/usr/bin/chromium:chromium)

source scripts/throwaway-postgres.sh
export CLARITY_TEST_POSTGRES="$postgres"
source scripts/promtool.sh   # promtool (from Debian's prometheus package) for the metrics format tests

# The webhook tests' receiver verifies deliveries with the Standard Webhooks reference implementation (npm standardwebhooks).
log "Installing the webhook test receiver's npm packages"
npm ci --prefix tests/Clarity.Tests/Features/Webhooks/receiver --no-audit --no-fund --loglevel=error
npm ci --prefix tests/Clarity.Tests/Features/Mcp/client --no-audit --no-fund --loglevel=error

log "Building"
dotnet build Clarity.sln -c Release -nologo -v quiet

# The two test projects run one after the other: on a 2-core machine, Chromium beside the 5,000 integration tests
# saw page loads outlast a minute. Each project still runs its own tests in parallel.
out=$(mktemp /tmp/clarity-test-output.XXXXXX)
status=0
for project in tests/Clarity.Tests tests/Clarity.BrowserTests; do
  log "Running $project (SQLite and PostgreSQL)"
  set +e
  dotnet test "$project" -c Release --no-build -nologo --logger "console;verbosity=normal" "$@" 2>&1 | tee -a "$out" | grep -vE '^\s*Passed '
  project_status=${PIPESTATUS[0]}
  set -e
  [[ $project_status -eq 0 ]] || status=$project_status
done
passed=$(grep -oE '^\s+Passed:\s+[0-9]+' "$out" | awk '{s += $2} END {print s + 0}' || true)
failed=$(grep -oE '^\s+Failed:\s+[0-9]+' "$out" | awk '{s += $2} END {print s + 0}' || true)
rm -f "$out"
echo
echo "$passed passed, $failed failed"
exit "$status"
