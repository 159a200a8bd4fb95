#!/usr/bin/env bash
# Load benchmark of the token-lifecycle endpoints, with wrk, against a release build:
#   1. /introspect of a JWT access token          (client_secret_basic)
#   2. /token refresh_token with rotation          (a pool of tokens from real sign-ins)
#   3. /token client_credentials                   (client_secret_basic)
#   4. /introspect of an opaque access token       (looked up in the database)
# on the embedded defaults (SQLite + in-process store), then on PostgreSQL + Redis when
# FERRID_BENCH_DATABASE_URL and FERRID_BENCH_REDIS_URL are both set.
#
#   cargo build --release && bash tests/bench/lifecycle.sh
#   FERRID_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \
#   FERRID_BENCH_REDIS_URL=redis://127.0.0.1:6379 bash tests/bench/lifecycle.sh
#
# Method (keep it, so figures compare across commits): ferrid pinned to core 0, wrk to core 1,
# `wrk -t1 -c32 -d10s --latency`. Per scenario it prints requests/s, p50, p99, non-2xx answers
# and the server CPU seconds spent; per backend, ferrid's peak RSS and CPU for the whole run.
# The PostgreSQL side runs in a database created for the run and dropped after it; Redis keys
# live under a unique FERRID_REDIS_PREFIX and are deleted after it. Needs curl, wrk, openssl,
# python3, taskset (and psql, redis-cli for the second backend).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${FERRID_BIN:-${CARGO_TARGET_DIR:-$root/target}/release/ferrid}
duration=${FERRID_BENCH_DURATION:-10s}
connections=32
# More tokens than connections, so every connection always finds one to send.
pool_size=${FERRID_BENCH_POOL:-64}
password='correct horse battery staple'
redirect=http://127.0.0.1:9/cb

work=$(mktemp -d)
pid=''            # the running ferrid
pg_admin_url=''   # set while a benchmark database exists, so cleanup drops it
pg_database=''
redis_url=''      # set while Redis keys under $redis_prefix may exist
redis_prefix=''

# --- server lifecycle -------------------------------------------------------------------------

stop_server() {
  if [[ -n $pid ]]; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    pid=''
  fi
}

cleanup() {
  stop_server
  # ferrid is gone, so nothing holds a connection to the database any more.
  if [[ -n $pg_database ]]; then
    psql -q "$pg_admin_url" -c "DROP DATABASE IF EXISTS $pg_database" >/dev/null || true
  fi
  if [[ -n $redis_url ]]; then
    redis-cli -u "$redis_url" --scan --pattern "${redis_prefix}*" | xargs -r -n 500 redis-cli -u "$redis_url" DEL >/dev/null || true
  fi
  # FERRID_BENCH_KEEP=DIR keeps wrk's full output and the server logs for a closer look.
  if [[ -n ${FERRID_BENCH_KEEP:-} ]]; then
    mkdir -p "$FERRID_BENCH_KEEP"
    (cd "$work" && find . \( -name 'wrk-*.txt' -o -name log \) -exec cp --parents {} "$FERRID_BENCH_KEEP" \;) || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# Core 0 is ferrid's alone: tokio sizes its worker pool from the affinity mask, so it runs one
# worker, and wrk on core 1 does not steal its cycles.
start_server() {
  local dir=$1 port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  base="http://127.0.0.1:$port"
  export FERRID_DATA_DIR="$dir/data" FERRID_BIND="127.0.0.1:$port" FERRID_ISSUER="$base" \
    FERRID_LOG=warn FERRID_SHUTDOWN_GRACE_SECS=2
  (cd "$dir" && exec taskset -c 0 "$bin" serve >"$dir/log" 2>&1) &
  pid=$!
  until curl -sf "$base/ready" >/dev/null; do
    kill -0 "$pid" 2>/dev/null || { cat "$dir/log" >&2; echo "ferrid did not start" >&2; exit 1; }
    sleep 0.05
  done
}

# utime + stime of the server process, in seconds (fields 14 and 15 of /proc/<pid>/stat, in
# clock ticks; the command name in field 2 has no spaces here).
cpu_seconds() {
  awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$pid/stat"
}

# Peak resident set size (VmHWM) in MiB.
peak_rss_mib() {
  awk '/^VmHWM:/ { printf "%.1f", $2 / 1024 }' "/proc/$pid/status"
}

# Setup signs 64 users in, and each password check is an argon2id hash with 19 MiB of memory:
# reset the high-water mark (clear_refs 5, Linux ≥ 4.0) so the peak measured is the load's.
reset_peak_rss() {
  echo 5 >"/proc/$pid/clear_refs" 2>/dev/null || echo "  (cannot reset VmHWM: peak RSS includes setup)"
}

# --- backends ---------------------------------------------------------------------------------

use_embedded() {
  unset FERRID_DATABASE_URL FERRID_REDIS_URL FERRID_REDIS_PREFIX
}

# A database of its own (created here, dropped by cleanup) keeps the run away from whatever else
# lives in the server; a unique prefix does the same in Redis.
use_postgres_redis() {
  local suffix
  suffix="$(date +%s)_$$"
  pg_admin_url=$FERRID_BENCH_DATABASE_URL
  pg_database="ferrid_bench_$suffix"
  psql -q "$pg_admin_url" -c "CREATE DATABASE $pg_database" >/dev/null
  # The given URL with its database name replaced by ours.
  FERRID_DATABASE_URL=$(python3 - "$pg_admin_url" "$pg_database" <<'PY'
import sys, urllib.parse
url = urllib.parse.urlsplit(sys.argv[1])
print(urllib.parse.urlunsplit(url._replace(path="/" + sys.argv[2])))
PY
)
  redis_url=$FERRID_BENCH_REDIS_URL
  redis_prefix="ferrid-bench-$suffix:"
  export FERRID_DATABASE_URL FERRID_REDIS_URL="$redis_url" FERRID_REDIS_PREFIX="$redis_prefix"
}

# --- users, clients and tokens ----------------------------------------------------------------

# Prints "client_id client_secret" of a new confidential client.
create_client() {
  local out
  out=$("$bin" client create "$@" 2>/dev/null)
  echo "$(sed -n 's/^client_id: //p' <<<"$out") $(sed -n 's/^client_secret: //p' <<<"$out")"
}

basic() { printf 'Basic %s' "$(printf '%s:%s' "$1" "$2" | base64 -w0)"; }

json_field() { sed -n "s/.*\"$1\":\"\\([^\"]*\\)\".*/\\1/p"; }

# The value of a hidden form field in an HTML page.
form_field() { grep -o "name=\"$1\" value=\"[^\"]*\"" | head -1 | sed 's/.*value="//; s/"$//'; }

create_principals() {
  echo "$password" | "$bin" user create --email bench@example.com >/dev/null
  # First-party, so no consent page; offline_access, so the code exchange returns a refresh token.
  read -r web_id web_secret < <(create_client --name bench-web --first-party --redirect-uri "$redirect" \
    --scope openid --scope offline_access)
  read -r service_id service_secret < <(create_client --name bench-service \
    --grant-type client_credentials --scope profile)
  read -r opaque_id opaque_secret < <(create_client --name bench-opaque --access-token-format opaque \
    --grant-type client_credentials --scope profile)
}

# One complete sign-in as flow.sh does it (fresh cookie jar, password login, PKCE code exchange);
# prints the refresh token.
sign_in() {
  local jar="$work/jar" verifier challenge login page resume back code
  rm -f "$jar"
  verifier=$(head -c 48 /dev/urandom | base64 | tr -d '=+/\n' | cut -c1-64)
  challenge=$(printf '%s' "$verifier" | openssl dgst -sha256 -binary | base64 | tr '+/' '-_' | tr -d '=')
  login=$(curl -s -c "$jar" -b "$jar" -o /dev/null -w '%{redirect_url}' \
    "$base/authorize?response_type=code&client_id=$web_id&redirect_uri=$redirect&scope=openid%20offline_access&state=s&code_challenge=$challenge&code_challenge_method=S256")
  page=$(curl -s -c "$jar" -b "$jar" "$login")
  resume=$(curl -s -c "$jar" -b "$jar" -o /dev/null -w '%{redirect_url}' "$base/login" \
    --data-urlencode "request=$(form_field request <<<"$page")" --data-urlencode "csrf=$(form_field csrf <<<"$page")" \
    --data-urlencode email=bench@example.com --data-urlencode "password=$password")
  back=$(curl -s -c "$jar" -b "$jar" -o /dev/null -w '%{redirect_url}' "$resume")
  code=$(sed -n 's/.*[?&]code=\([^&]*\).*/\1/p' <<<"$back")
  curl -s -u "$web_id:$web_secret" "$base/token" -d grant_type=authorization_code -d "code=$code" \
    -d "redirect_uri=$redirect" -d "code_verifier=$verifier" | json_field refresh_token
}

fill_refresh_pool() {
  local token
  : >"$work/pool"
  for _ in $(seq "$pool_size"); do
    token=$(sign_in)
    [[ -n $token ]] || { echo "a sign-in returned no refresh token" >&2; exit 1; }
    echo "$token" >>"$work/pool"
  done
}

client_credentials_token() {
  curl -s -u "$1:$2" "$base/token" -d grant_type=client_credentials -d scope=profile | json_field access_token
}

# Introspection answers 200 {"active":false} for a bad token, so a status count would not catch
# a benchmark of the wrong thing: check the token is active before and after the load.
assert_active() {
  curl -s -u "$1:$2" "$base/introspect" -d "token=$3" | grep -q '"active":true' \
    || { echo "introspection of the $4 token is not active" >&2; exit 1; }
}

# --- load -------------------------------------------------------------------------------------

print_header() {
  printf '  %-28s %10s %9s %9s %8s %7s %7s\n' scenario 'req/s' p50 p99 non-2xx sockerr 'cpu s'
}

# run_scenario NAME PATH SCRIPT [VAR=VALUE ...]: one wrk window (the variables are the Lua
# script's environment), then one line of figures.
run_scenario() {
  local name=$1 path=$2 script=$3 out="$work/$backend/wrk-$1.txt" before after
  shift 3
  before=$(cpu_seconds)
  env "$@" taskset -c 1 wrk -t1 -c"$connections" -d"$duration" --latency -s "$here/$script" "$base$path" >"$out" 2>&1
  after=$(cpu_seconds)
  # wrk reports a failing Lua script and then benchmarks anyway: stop instead.
  if grep -q "$script: " "$out"; then cat "$out" >&2; exit 1; fi
  local rps p50 p99 non2xx sockerr
  rps=$(awk '/^Requests\/sec:/ { print $2 }' "$out")
  p50=$(awk '$1 == "50%" { print $2 }' "$out")
  p99=$(awk '$1 == "99%" { print $2 }' "$out")
  # wrk's own count covers 3xx too, which these endpoints never answer.
  non2xx=$(awk -F': *' '/Non-2xx or 3xx responses/ { print $2 }' "$out")
  if grep -q '^refresh-pool:' "$out"; then
    non2xx=$(sed -n 's/^refresh-pool: non2xx=\([0-9]*\).*/\1/p' "$out")
  fi
  sockerr=$(awk '/Socket errors/ { gsub(",", ""); print $4 + $6 + $8 + $10 }' "$out")
  printf '  %-28s %10s %9s %9s %8s %7s %7.2f\n' "$name" "${rps:-?}" "${p50:-?}" "${p99:-?}" \
    "${non2xx:-0}" "${sockerr:-0}" "$(echo "$after - $before" | bc)"
  if [[ -z $rps ]]; then cat "$out" >&2; fi
  grep '^refresh-pool:' "$out" | sed 's/^/    /' || true
}

bench_backend() {
  local label=$1 dir="$work/$2" cpu_start cpu_end jwt opaque
  backend=$2
  mkdir -p "$dir"
  start_server "$dir"
  echo "== $label  ($(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg))"
  create_principals
  fill_refresh_pool
  jwt=$(client_credentials_token "$service_id" "$service_secret")
  opaque=$(client_credentials_token "$opaque_id" "$opaque_secret")
  assert_active "$service_id" "$service_secret" "$jwt" JWT
  assert_active "$opaque_id" "$opaque_secret" "$opaque" opaque
  reset_peak_rss
  cpu_start=$(cpu_seconds)
  print_header
  run_scenario introspect-jwt /introspect post.lua \
    BENCH_AUTHORIZATION="$(basic "$service_id" "$service_secret")" \
    BENCH_BODY="token=$jwt&token_type_hint=access_token"
  run_scenario refresh-rotation /token refresh.lua \
    BENCH_AUTHORIZATION="$(basic "$web_id" "$web_secret")" BENCH_POOL="$work/pool"
  run_scenario client-credentials /token post.lua \
    BENCH_AUTHORIZATION="$(basic "$service_id" "$service_secret")" \
    BENCH_BODY="grant_type=client_credentials&scope=profile"
  run_scenario introspect-opaque /introspect post.lua \
    BENCH_AUTHORIZATION="$(basic "$opaque_id" "$opaque_secret")" \
    BENCH_BODY="token=$opaque&token_type_hint=access_token"
  cpu_end=$(cpu_seconds)
  assert_active "$service_id" "$service_secret" "$jwt" JWT
  assert_active "$opaque_id" "$opaque_secret" "$opaque" opaque
  echo "  ferrid: peak RSS $(peak_rss_mib) MiB during the load; CPU $(echo "$cpu_end - $cpu_start" | bc) s" \
    "during the load, $cpu_end s since start (setup's sign-ins included)"
  stop_server
}

command -v wrk >/dev/null || { echo "wrk is missing (apt-get install -y wrk)" >&2; exit 1; }
[[ -x $bin ]] || { echo "no release build at $bin (cargo build --release, or set FERRID_BIN)" >&2; exit 1; }
echo "ferrid $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?'); wrk -t1 -c$connections -d$duration --latency; refresh pool $pool_size"

use_embedded
bench_backend "embedded: SQLite + in-process store" embedded

if [[ -n ${FERRID_BENCH_DATABASE_URL:-} && -n ${FERRID_BENCH_REDIS_URL:-} ]]; then
  use_postgres_redis
  bench_backend "PostgreSQL + Redis" postgres
fi
