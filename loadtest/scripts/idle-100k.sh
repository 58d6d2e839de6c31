#!/usr/bin/env bash
# 100,000 idle authenticated sockets across six comet nodes sharing Redis (issue 5's second
# idle row). One process may hold at most 20,000 descriptors here, so the server runs as repo +
# logic + 6 comet processes and the harness as 6 shards, each against every node.
#
#   loadtest/scripts/idle-100k.sh [TOTAL_SOCKETS] [NODES]
#
# Needs release builds (cargo build --release -p natter --bin natter -p natter-loadtest),
# PostgreSQL and Redis (same defaults as scripts/test). Creates a fresh database and a random
# Redis prefix, and removes both at the end. Prints each shard's table, then the comets' RSS.
set -euo pipefail
cd "$(dirname "$0")/../.."
TOTAL="${1:-100000}"
NODES="${2:-6}"
BIN=target/release/natter
LT=target/release/natter-loadtest
PG="${NATTER_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
REDIS="${NATTER_TEST_REDIS_URL:-redis://127.0.0.1:6379}"
[ -x "$BIN" ] && [ -x "$LT" ] || { echo "build first: cargo build --release -p natter --bin natter -p natter-loadtest" >&2; exit 2; }

RUN="$(mktemp -d)"
DB="natter_lt100k_$(date +%s)_$$"
PREFIX="natter-lt100k-$$-$RANDOM:"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  psql "$PG" -qc "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1 || true
  redis-cli -u "$REDIS" --scan --pattern "${PREFIX}*" | xargs -r -n 500 redis-cli -u "$REDIS" DEL >/dev/null || true
  echo "logs were in $RUN"
}
trap cleanup EXIT

psql "$PG" -qc "CREATE DATABASE $DB"
export DATABASE_URL="${PG%/*}/$DB" REDIS_URL="$REDIS" NATTER_REDIS_PREFIX="$PREFIX"
export NATTER_SERVICE_TOKEN="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export NATTER_LOG="${NATTER_LOG:-warn}"
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; echo "nothing on port $1" >&2; exit 1; }

REPO=$(port); "$BIN" repo --grpc-addr "127.0.0.1:$REPO" >"$RUN/repo.log" 2>&1 & PIDS+=($!); wait_port "$REPO"
LOGIC=$(port); "$BIN" logic --grpc-addr "127.0.0.1:$LOGIC" --repo-url "http://127.0.0.1:$REPO" \
  --jwt-key-file "$RUN/jwt.pem" >"$RUN/logic.log" 2>&1 & PIDS+=($!); wait_port "$LOGIC"
URLS=(); WATCH=()
for i in $(seq 0 $((NODES - 1))); do
  P=$(port)
  "$BIN" comet --http-addr "127.0.0.1:$P" --logic-url "http://127.0.0.1:$LOGIC" --node-id "comet-$i" \
    >"$RUN/comet-$i.log" 2>&1 & PIDS+=($!); WATCH+=(--server-pid "$!")
  wait_port "$P"; URLS+=("http://127.0.0.1:$P")
done
URL_LIST=$(IFS=,; echo "${URLS[*]}")

rss() { awk '/VmRSS/{print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
COMET_PIDS=(); for ((k = 1; k < ${#WATCH[@]}; k += 2)); do COMET_PIDS+=("${WATCH[$k]}"); done
BASE=0; for p in "${COMET_PIDS[@]}"; do BASE=$((BASE + $(rss "$p"))); done
# The comets' summed RSS, sampled every second while the shards run: its peak is the figure.
( PEAK=0; while sleep 1; do
    T=0; for p in "${COMET_PIDS[@]}"; do T=$((T + $(rss "$p"))); done
    [ "$T" -gt "$PEAK" ] && PEAK=$T && echo "$PEAK" >"$RUN/peak"
  done ) & PIDS+=($!)

SHARDS=$NODES
PER=$((TOTAL / SHARDS))
echo "== $TOTAL sockets: $NODES comet nodes, $SHARDS harness shards of $PER"
SHARD_PIDS=()
for i in $(seq 0 $((SHARDS - 1))); do
  "$LT" idle --url "$URL_LIST" --shard "$i/$SHARDS" --sockets "$TOTAL" --duration "${DURATION:-20}" \
    --no-progress "${WATCH[@]}" >"$RUN/shard-$i.txt" 2>&1 & SHARD_PIDS+=($!)
done
FAIL=0
for p in "${SHARD_PIDS[@]}"; do wait "$p" || FAIL=1; done
for i in $(seq 0 $((SHARDS - 1))); do echo "-- shard $i"; cat "$RUN/shard-$i.txt"; done
PEAK=$(cat "$RUN/peak" 2>/dev/null || echo 0)
echo "== comets' summed RSS: $((BASE / 1024)) MiB before provisioning, $((PEAK / 1024)) MiB at peak (per-socket figures at connect: the shard tables): \
$(( (PEAK - BASE) * 1024 / TOTAL )) bytes per socket above the empty baseline"
grep -h "TCP:" /proc/net/sockstat || true
exit $FAIL
