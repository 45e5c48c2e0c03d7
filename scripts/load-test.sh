#!/usr/bin/env bash
# Bounded load test of `loraserve serve` (docs/server.md): starts the server on 127.0.0.1 with the
# default model and its two adapters, three tenants (different VTC weights) and an admin key, runs
# CLIENTS concurrent streaming clients for SECONDS over every tenant and model (base + adapters),
# then checks: zero 5xx, every stream ends with [DONE], all KV blocks free, server memory stable,
# and a clean exit on SIGTERM. Everything stays on this machine and stops by itself.
# Usage: scripts/load-test.sh [SECONDS=30] [CLIENTS=16]
set -euo pipefail
SECONDS_TO_RUN="${1:-30}"
CLIENTS="${2:-16}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
ART="${LOAD_TEST_ARTIFACTS:-/tmp/art-load-test}"
WORK="$(mktemp -d /tmp/loraserve-load-XXXXXX)"
PORT="${LOAD_TEST_PORT:-18431}"
trap 'kill -TERM "${SERVER_PID:-}" 2>/dev/null || true; rm -rf "$WORK"' EXIT

dotnet build "$ROOT/src/LoraServe.Cli" -c Release --artifacts-path "$ART" -v quiet -nologo >/dev/null
dotnet build "$ROOT/scripts/load-test" -c Release --artifacts-path "$ART" -v quiet -nologo >/dev/null

cat > "$WORK/tenants.json" <<JSON
{ "admin_keys": ["sk-load-admin-0000000000000000"],
  "tenants": {
    "gold":   { "api_keys": ["sk-load-gold-00000000000000000"],   "weight": 4, "adapters": "*" },
    "silver": { "api_keys": ["sk-load-silver-0000000000000000"], "weight": 2, "adapters": "*" },
    "bronze": { "api_keys": ["sk-load-bronze-0000000000000000"], "weight": 1, "adapters": "*" } } }
JSON

dotnet "$ART/bin/LoraServe.Cli/release/loraserve.dll" serve --port "$PORT" --tenants "$WORK/tenants.json" \
  --max-num-seqs 8 --max-waiting 64 --drain-timeout 10 >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 300); do
  curl -sf "http://127.0.0.1:$PORT/health" >/dev/null 2>&1 && break
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log"; exit 1; }
  sleep 0.2
done
MODELS="$(curl -sf -H 'Authorization: Bearer sk-load-gold-00000000000000000' "http://127.0.0.1:$PORT/v1/models" \
  | grep -o '"id":"[^"]*"' | cut -d'"' -f4 | paste -sd, -)"
echo "server pid $SERVER_PID on port $PORT; models $MODELS; $CLIENTS clients for ${SECONDS_TO_RUN}s"

set +e
dotnet "$ART/bin/LoadTest/release/loraserve-load-test.dll" "http://127.0.0.1:$PORT/" "$SECONDS_TO_RUN" "$CLIENTS" "$SERVER_PID" \
  sk-load-gold-00000000000000000,sk-load-silver-0000000000000000,sk-load-bronze-0000000000000000 "$MODELS"
RESULT=$?
curl -s "http://127.0.0.1:$PORT/metrics" | grep -E '^loraserve:tenant_generation_tokens_total|^vllm:generation_tokens_total|^loraserve:http_errors_total' || true
kill -TERM "$SERVER_PID"
wait "$SERVER_PID"
SERVER_EXIT=$?
set -e
echo "server exit code after SIGTERM: $SERVER_EXIT"
[ "$SERVER_EXIT" -eq 0 ] || RESULT=1
exit "$RESULT"
