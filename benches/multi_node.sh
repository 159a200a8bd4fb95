#!/usr/bin/env bash
# Multi-node throughput of the refresh-token grant (issue 10): 1, then 2, then 3 release ferrid
# nodes on one PostgreSQL database and one Redis, no load balancer in between — one wrk per node
# at the same time, figures summed.
#
#   cargo build --release --bin ferrid && bash benches/multi_node.sh
#
# Defaults to the local services; FERRID_BENCH_DATABASE_URL (an admin URL: a database is created
# for the run and dropped after it) and FERRID_BENCH_REDIS_URL (keys under a unique
# FERRID_REDIS_PREFIX, deleted after it) point elsewhere. FERRID_BENCH_DURATION (10s),
# FERRID_BENCH_CONNECTIONS (32, split across the nodes) and FERRID_BENCH_POOL (160 refresh
# tokens, split likewise) change the method; keep them when comparing runs.
#
# The load is benches/lua/refresh.lua, as in benches/load.sh: each node's wrk takes tokens from
# its own share of a pool filled by real sign-ins and puts each rotated token back, so a token is
# never presented twice and any non-2xx is a bug. Every process shares the machine's cores (no
# pinning: with N nodes there are more processes than cores on a small machine), so the curve
# shows what a node adds on this machine, not what it would add on its own hardware.
# Needs curl, wrk, openssl, python3, psql and redis-cli.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=benches/sign_in.sh
source "$here/sign_in.sh"
root=$(cd "$here/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
bin=${FERRID_BIN:-$target/release/ferrid}
duration=${FERRID_BENCH_DURATION:-10s}
connections=${FERRID_BENCH_CONNECTIONS:-32}
pool_size=${FERRID_BENCH_POOL:-160}
database_admin_url=${FERRID_BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}
redis_url=${FERRID_BENCH_REDIS_URL:-redis://127.0.0.1:6379}
password='correct horse battery staple'
email=bench@example.com
redirect=http://127.0.0.1:9/cb

command -v wrk >/dev/null || { echo "wrk is missing (apt-get install -y wrk)" >&2; exit 1; }
[[ -x $bin ]] || { echo "no release build at $bin (cargo build --release --bin ferrid, or set FERRID_BIN)" >&2; exit 1; }

work=$(mktemp -d)
suffix="$(date +%s)_$$"
database="ferrid_multi_$suffix"
redis_prefix="ferrid-multi-$suffix:"
pids=()        # running nodes
addresses=()   # their base URLs
database_created=''

cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [[ -n $database_created ]]; then
    psql -q "$database_admin_url" -c "DROP DATABASE IF EXISTS $database" >/dev/null || true
  fi
  redis-cli -u "$redis_url" --scan --pattern "${redis_prefix}*" | xargs -r -n 500 redis-cli -u "$redis_url" DEL >/dev/null || true
  if [[ -n ${FERRID_BENCH_KEEP:-} ]]; then mkdir -p "$FERRID_BENCH_KEEP" && cp -r "$work"/. "$FERRID_BENCH_KEEP"; fi
  rm -rf "$work"
}
trap cleanup EXIT

psql -q "$database_admin_url" -c "CREATE DATABASE $database" >/dev/null
database_created=yes
database_url=$(python3 - "$database_admin_url" "$database" <<'PY'
import sys, urllib.parse
url = urllib.parse.urlsplit(sys.argv[1])
print(urllib.parse.urlunsplit(url._replace(path="/" + sys.argv[2])))
PY
)

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Every node: one database, one Redis prefix, one KEK, one issuer (the first node's address; the
# sign-ins that fill the pool go there). Budgets far above the load: every request comes from
# 127.0.0.1 and one client.
issuer_port=$(free_port)
export FERRID_DATABASE_URL=$database_url FERRID_REDIS_URL=$redis_url FERRID_REDIS_PREFIX=$redis_prefix \
  FERRID_KEK=$(openssl rand -base64 32) FERRID_ISSUER="http://127.0.0.1:$issuer_port" FERRID_DATA_DIR="$work/data" \
  FERRID_LOG=warn FERRID_SHUTDOWN_GRACE_SECS=2
export FERRID_RATE_LIMITS="login_ip=100000000/1m,login_ip_email=100000000/1m,token_ip=100000000/1m,\
token_client=100000000/1m"

# Starts one more node and waits for /ready.
start_node() {
  local port=$1 base="http://127.0.0.1:$1" index=${#pids[@]}
  (cd "$work" && FERRID_BIND="127.0.0.1:$port" exec "$bin" serve >"$work/node-$index.log" 2>&1) &
  pids+=($!)
  addresses+=("$base")
  until curl -sf -o /dev/null "$base/ready"; do
    kill -0 "${pids[-1]}" 2>/dev/null || { cat "$work/node-$index.log" >&2; echo "node $index did not start" >&2; exit 1; }
    sleep 0.05
  done
}

mkdir -p "$work/data"
start_node "$issuer_port"
issuer=${addresses[0]}

echo "$password" | "$bin" user create --email "$email" >/dev/null
client=$("$bin" client create --name bench-web --first-party --redirect-uri "$redirect" \
  --scope openid --scope offline_access 2>/dev/null)
web_id=$(sed -n 's/^client_id: //p' <<<"$client")
web_secret=$(sed -n 's/^client_secret: //p' <<<"$client")
authorization="Basic $(printf '%s:%s' "$web_id" "$web_secret" | base64 -w0)"

# One sign-in of the web client and its code exchange; prints the refresh token.
sign_in() {
  local code verifier
  read -r code verifier < <(authorize_code "$issuer")
  curl -s -u "$web_id:$web_secret" "$issuer/token" -d grant_type=authorization_code -d "code=$code" \
    -d "redirect_uri=$redirect" -d "code_verifier=$verifier" | sed -n 's/.*"refresh_token":"\([^"]*\)".*/\1/p'
}

# A fresh pool before every run (wrk drops the answers in flight when it stops, and with them
# the successors of the tokens they rotated), dealt round-robin into one file per node.
fill_pools() {
  local nodes=$1 i=0 token
  for ((n = 0; n < nodes; n++)); do : >"$work/pool-$n"; done
  for _ in $(seq "$pool_size"); do
    token=$(sign_in)
    [[ -n $token ]] || { echo "a sign-in returned no refresh token" >&2; exit 1; }
    echo "$token" >>"$work/pool-$((i % nodes))"
    i=$((i + 1))
  done
}

to_ms() {
  awk -v v="$1" 'BEGIN {
    if (v ~ /us$/) { sub(/us$/, "", v); printf "%.3f", v / 1000 }
    else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.3f", v }
    else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.3f", v * 1000 }
    else { printf "null" } }'
}

printf '%-6s %6s %10s %10s %10s %8s\n' nodes conns 'req/s' 'p50 ms' 'p99 ms' non-2xx
for nodes in 1 2 3; do
  while ((${#pids[@]} < nodes)); do start_node "$(free_port)"; done
  fill_pools "$nodes"
  per_node=$(((connections + nodes - 1) / nodes))
  wrk_pids=()
  for ((n = 0; n < nodes; n++)); do
    BENCH_AUTHORIZATION="$authorization" BENCH_POOL="$work/pool-$n" \
      wrk -t1 -c"$per_node" -d"$duration" --latency -s "$here/lua/refresh.lua" "${addresses[$n]}/token" \
      >"$work/wrk-$nodes-$n.txt" 2>&1 &
    wrk_pids+=($!)
  done
  wait "${wrk_pids[@]}"
  # Summed requests/s and non-2xx; the worst node's p50 and p99.
  rps=0 non2xx=0 p50=0 p99=0
  for ((n = 0; n < nodes; n++)); do
    out="$work/wrk-$nodes-$n.txt"
    grep -q '^Requests/sec:' "$out" || { cat "$out" >&2; exit 1; }
    rps=$(awk -v sum="$rps" '/^Requests\/sec:/ { printf "%.0f", sum + $2 }' "$out")
    non2xx=$((non2xx + $(sed -n 's/^refresh-pool: non2xx=\([0-9]*\).*/\1/p' "$out")))
    p50=$(awk -v a="$p50" -v b="$(to_ms "$(awk '$1 == "50%" { print $2 }' "$out")")" 'BEGIN { print (b > a ? b : a) }')
    p99=$(awk -v a="$p99" -v b="$(to_ms "$(awk '$1 == "99%" { print $2 }' "$out")")" 'BEGIN { print (b > a ? b : a) }')
  done
  printf '%-6s %6s %10s %10s %10s %8s\n' "$nodes" "$((per_node * nodes))" "$rps" "$p50" "$p99" "$non2xx"
  printf '{"scenario":"refresh-rotation","nodes":%s,"connections":%s,"rps":%s,"p50_ms":%s,"p99_ms":%s,"non2xx":%s}\n' \
    "$nodes" "$((per_node * nodes))" "$rps" "$p50" "$p99" "$non2xx" >>"$work/results.jsonl"
done
echo "== JSON lines"
cat "$work/results.jsonl"
