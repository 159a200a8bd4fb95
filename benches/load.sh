#!/usr/bin/env bash
# ferrid's load benchmark (issue 11): every scenario through standard endpoints only, against a
# release build, on the embedded defaults (SQLite + in-process store) and then on PostgreSQL +
# Redis when FERRID_BENCH_DATABASE_URL and FERRID_BENCH_REDIS_URL are both set.
#
#   cargo build --release --bin ferrid --example load && bash benches/load.sh
#   FERRID_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \
#   FERRID_BENCH_REDIS_URL=redis://127.0.0.1:6379 bash benches/load.sh
#
# Method (keep it, so figures compare across commits and with other providers): ferrid pinned to
# core 0, the load generator to core 1, `wrk -t1 -c32 -d10s --latency` (Lua scripts in lua/ where
# the request changes). Scenarios:
#   discovery, jwks                      GET, anonymous
#   client-credentials                   /token, client_secret_basic, JWT access token
#   introspect                           /introspect of a valid JWT access token
#   userinfo                             /userinfo with a user's access token
#   refresh-rotation                     /token refresh_token, a pool of tokens from real sign-ins,
#                                        each answer's new token back into the pool; the RS256 ID
#                                        token is re-issued (as the peer figures do)
#   refresh-rotation-no-id-token         the same for a client registered with
#                                        --id-token-on-refresh false (OIDC Core §12.2)
#   auth-code-flow                       complete authorization code + PKCE sign-ins with the
#                                        password login (examples/load.rs, 32 virtual users)
#   login-storm                          /api/auth/login at full rate: alone, then with jwks and
#                                        client-credentials probed beside it (1 connection each)
# then the scaling curve of refresh-rotation and client-credentials at 1, 8, 32 and 128
# connections. Per scenario: requests/s, p50, p99, non-2xx answers, server CPU seconds and
# ferrid's peak RSS (VmHWM) during it; per backend: start to the first 200 from discovery, idle
# RSS, the peak RSS over every scenario, and argon2id's own rate at the configured parameters
# (memory reused, as ferrid's hashing threads do), measured on ferrid's core right after the
# login storm so that the logins' share of it compares like with like. One table on stdout, and
# JSON lines (one per scenario) at the end, also written to $FERRID_BENCH_JSON if set.
#
# PostgreSQL runs in a database created for the run and dropped after it; Redis keys live under
# a unique prefix and are deleted after it. Needs curl, wrk, openssl, python3, taskset, bc (and
# psql, redis-cli for the second backend).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=benches/sign_in.sh
source "$here/sign_in.sh"
root=$(cd "$here/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
bin=${FERRID_BIN:-$target/release/ferrid}
load_bin=${FERRID_LOAD_BIN:-$target/release/examples/load}
duration=${FERRID_BENCH_DURATION:-10s}
seconds=${duration%s}
connections=32
curve=(1 8 32 128)
# More tokens than the largest connection count, so every connection always finds one to send.
pool_size=${FERRID_BENCH_POOL:-160}
password='correct horse battery staple'
email=bench@example.com
redirect=http://127.0.0.1:9/cb
# OWASP's argon2id parameters, ferrid's defaults (stated here so the argon2 ceiling matches).
argon2_memory=19456
argon2_iterations=2

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

now_ns() { date +%s%N; }

# Core 0 is ferrid's alone: tokio sizes its worker pool from the affinity mask, so it runs one
# worker, and the load generator on core 1 does not steal its cycles. Sets start_ms: from spawn
# to the first 200 from discovery.
start_server() {
  local dir=$1 port started
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  base="http://127.0.0.1:$port"
  export FERRID_DATA_DIR="$dir/data" FERRID_BIND="127.0.0.1:$port" FERRID_ISSUER="$base" \
    FERRID_LOG=warn FERRID_SHUTDOWN_GRACE_SECS=2
  # Every request comes from 127.0.0.1: budgets far above the load keep the limiter's cost in the
  # figures without its refusals.
  export FERRID_RATE_LIMITS="login_ip=100000000/1m,login_ip_email=100000000/1m,token_ip=100000000/1m,\
token_client=100000000/1m,register_ip=100000000/1h,client_registration_ip=100000000/1h"
  started=$(now_ns)
  (cd "$dir" && exec taskset -c 0 "$bin" serve >"$dir/log" 2>&1) &
  pid=$!
  until curl -sf -o /dev/null "$base/.well-known/openid-configuration"; do
    kill -0 "$pid" 2>/dev/null || { cat "$dir/log" >&2; echo "ferrid did not start" >&2; exit 1; }
    sleep 0.005
  done
  start_ms=$(( ($(now_ns) - started) / 1000000 ))
}

# utime + stime of the server process, in seconds (fields 14 and 15 of /proc/<pid>/stat).
cpu_seconds() {
  awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$pid/stat"
}

rss_mib() { awk -v field="$1:" '$1 == field { printf "%.1f", $2 / 1024 }' "/proc/$pid/status"; }

# Setup signs users in (argon2id with 19 MiB each): the high-water mark is reset (clear_refs 5,
# Linux ≥ 4.0) before each scenario, so each peak is its load's; peak_rss keeps the highest.
reset_peak_rss() {
  echo 5 >"/proc/$pid/clear_refs" 2>/dev/null || true
}

# Sets last_peak to VmHWM since the last reset and raises peak_rss to it.
take_peak() {
  last_peak=$(rss_mib VmHWM)
  peak_rss=$(echo "if ($last_peak > $peak_rss) $last_peak else $peak_rss" | bc)
}

# --- backends ---------------------------------------------------------------------------------

use_embedded() {
  unset FERRID_DATABASE_URL FERRID_REDIS_URL FERRID_REDIS_PREFIX
}

use_postgres_redis() {
  local suffix
  suffix="$(date +%s)_$$"
  pg_admin_url=$FERRID_BENCH_DATABASE_URL
  pg_database="ferrid_bench_$suffix"
  psql -q "$pg_admin_url" -c "CREATE DATABASE $pg_database" >/dev/null
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

create_principals() {
  echo "$password" | "$bin" user create --email "$email" >/dev/null
  # First-party, so no consent page; offline_access, so the code exchange returns a refresh token.
  read -r web_id web_secret < <(create_client --name bench-web --first-party --redirect-uri "$redirect" \
    --scope openid --scope offline_access)
  read -r lean_id lean_secret < <(create_client --name bench-web-lean --first-party --redirect-uri "$redirect" \
    --scope openid --scope offline_access --id-token-on-refresh false)
  read -r service_id service_secret < <(create_client --name bench-service \
    --grant-type client_credentials --scope profile)
}

# Prints the token response of one more sign-in of the web client.
sign_in() {
  local code verifier
  read -r code verifier < <(authorize_code "$base")
  curl -s -u "$web_id:$web_secret" "$base/token" -d grant_type=authorization_code -d "code=$code" \
    -d "redirect_uri=$redirect" -d "code_verifier=$verifier"
}

# A fresh pool before every refresh scenario: wrk drops the answers in flight when it stops, and
# with them the successors of the tokens they rotated.
fill_refresh_pool() {
  local tokens
  : >"$work/pool"
  for _ in $(seq "$pool_size"); do
    tokens=$(sign_in)
    json_field refresh_token <<<"$tokens" >>"$work/pool"
    user_access_token=$(json_field access_token <<<"$tokens")
  done
  [[ $(grep -c . "$work/pool") -eq $pool_size ]] || { echo "a sign-in returned no refresh token" >&2; exit 1; }
}

client_credentials_token() {
  curl -s -u "$service_id:$service_secret" "$base/token" -d grant_type=client_credentials -d scope=profile \
    | json_field access_token
}

# Introspection answers 200 {"active":false} for a bad token, so a status count would not catch
# a benchmark of the wrong thing: check the token is active before and after the load.
assert_active() {
  curl -s -u "$service_id:$service_secret" "$base/introspect" -d "token=$1" | grep -q '"active":true' \
    || { echo "introspection of the access token is not active" >&2; exit 1; }
}

# --- load -------------------------------------------------------------------------------------

# wrk prints latencies as 850.00us, 1.23ms or 1.02s: in milliseconds.
to_ms() {
  awk -v v="$1" 'BEGIN {
    if (v ~ /us$/) { sub(/us$/, "", v); printf "%.3f", v / 1000 }
    else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.3f", v }
    else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.3f", v * 1000 }
    else { printf "null" } }'
}

print_header() {
  printf '  %-34s %10s %10s %10s %8s %7s %9s\n' scenario 'req/s' 'p50 ms' 'p99 ms' non-2xx 'cpu s' 'peak MiB'
}

# record NAME CONNECTIONS RPS P50_MS P99_MS NON2XX CPU_S PEAK_MIB: one table row and one JSON line.
record() {
  printf '  %-34s %10s %10s %10s %8s %7s %9s\n' "$1" "$3" "$4" "$5" "$6" "$7" "${8:-}"
  printf '{"backend":"%s","scenario":"%s","connections":%s,"rps":%s,"p50_ms":%s,"p99_ms":%s,"non2xx":%s,"cpu_s":%s,"peak_rss_mib":%s}\n' \
    "$backend" "$1" "$2" "${3:-null}" "${4:-null}" "${5:-null}" "${6:-0}" "${7:-null}" "${8:-null}" \
    >>"$work/results.jsonl"
}

# wrk_run OUT CONNECTIONS PATH SCRIPT [VAR=VALUE ...]: one wrk window on core 1.
wrk_run() {
  local out=$1 c=$2 path=$3 script=$4
  shift 4
  env "$@" taskset -c 1 wrk -t1 -c"$c" -d"$duration" --latency -s "$here/lua/$script" "$base$path" >"$out" 2>&1
  # wrk reports a failing Lua script and then benchmarks anyway: stop instead.
  if grep -q "$script: " "$out"; then cat "$out" >&2; exit 1; fi
}

# Parses wrk's output into: rps p50_ms p99_ms non2xx.
wrk_figures() {
  local out=$1 rps p50 p99 non2xx
  rps=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$out")
  p50=$(to_ms "$(awk '$1 == "50%" { print $2 }' "$out")")
  p99=$(to_ms "$(awk '$1 == "99%" { print $2 }' "$out")")
  non2xx=$(awk -F': *' '/Non-2xx or 3xx responses/ { print $2 }' "$out")
  if grep -q '^refresh-pool:' "$out"; then
    non2xx=$(sed -n 's/^refresh-pool: non2xx=\([0-9]*\).*/\1/p' "$out")
  fi
  if [[ -z $rps ]]; then cat "$out" >&2; fi
  echo "${rps:-null} $p50 $p99 ${non2xx:-0}"
}

# FERRID_BENCH_PROFILE=DIR: each fixed-request scenario and the login storm also run under
# `perf record` (software cpu-clock sampling with call graphs, which works where hardware counters
# are not exposed), and DIR gets <backend>-<scenario>.perf.data plus a text report of where
# ferrid's CPU time went.
profile_start() {
  profiler=''
  [[ -n ${FERRID_BENCH_PROFILE:-} ]] || return 0
  mkdir -p "$FERRID_BENCH_PROFILE"
  profile_out="$FERRID_BENCH_PROFILE/$backend-${1// /_}"
  perf record -q -e cpu-clock -F 1999 -g -p "$pid" -o "$profile_out.perf.data" 2>/dev/null &
  profiler=$!
}

profile_stop() {
  [[ -n $profiler ]] || return 0
  kill -INT "$profiler" 2>/dev/null || true
  wait "$profiler" 2>/dev/null || true
  perf report -q -i "$profile_out.perf.data" --no-children --sort symbol --percent-limit 0.7 --stdio -g none \
    >"$profile_out.txt" 2>/dev/null || true
}

# FERRID_BENCH_ONLY=name,name: run only these fixed-request scenarios or login-storm (and skip
# the flows and the curve), e.g. to profile one of them.
selected() {
  [[ -z ${FERRID_BENCH_ONLY:-} || ",$FERRID_BENCH_ONLY," == *",$1,"* ]]
}

# scenario NAME CONNECTIONS PATH SCRIPT [VAR=VALUE ...]
scenario() {
  local name=$1 c=$2 out="$work/$backend/wrk-${1// /_}-c$2.txt" before after
  selected "$name" || return 0
  shift
  reset_peak_rss
  before=$(cpu_seconds)
  profile_start "$name"
  wrk_run "$out" "$@"
  profile_stop
  after=$(cpu_seconds)
  take_peak
  # shellcheck disable=SC2046
  record "$name" "$c" $(wrk_figures "$out") "$(echo "$after - $before" | bc)" "$last_peak"
}

auth_code_flow() {
  local before after line
  reset_peak_rss
  before=$(cpu_seconds)
  line=$(taskset -c 1 "$load_bin" flow "$base" "$web_id" "$web_secret" "$redirect" "$email" "$password" \
    "$seconds" "$connections")
  after=$(cpu_seconds)
  take_peak
  record "auth-code-flow (flows/s)" "$connections" \
    "$(json_num flows_per_s <<<"$line")" "$(json_num p50_ms <<<"$line")" "$(json_num p99_ms <<<"$line")" \
    "$(json_num failed <<<"$line")" "$(echo "$after - $before" | bc)" "$last_peak"
}

json_num() { sed -n "s/.*\"$1\":\\([0-9.]*\\).*/\\1/p"; }

# argon2id's own rate at ferrid's parameters on ferrid's core (core 0), with its memory reused as
# ferrid's hashing threads do: the ceiling of password logins. Run while ferrid is idle.
argon2_alone() {
  taskset -c 0 "$load_bin" argon2 "$argon2_memory" "$argon2_iterations" 3 | json_num argon2id_hashes_per_s
}

# Password logins at full rate: alone (throughput, against argon2id's own rate), then with JWKS
# and client_credentials probed beside them (their latency while argon2 fills a core).
login_storm() {
  local dir="$work/$backend" before after jwks_pid cc_pid login_body
  login_body="{\"email\":\"$email\",\"password\":\"$password\"}"
  reset_peak_rss
  before=$(cpu_seconds)
  profile_start "login-storm"
  wrk_run "$dir/wrk-storm-alone.txt" "$connections" /api/auth/login login.lua BENCH_BODY="$login_body"
  profile_stop
  after=$(cpu_seconds)
  take_peak
  # shellcheck disable=SC2046
  record "login-storm (password logins)" "$connections" $(wrk_figures "$dir/wrk-storm-alone.txt") \
    "$(echo "$after - $before" | bc)" "$last_peak"
  # The ceiling right after the storm, on the same core: this VM's speed drifts over minutes.
  # The logins still queued when wrk stops finish first (32 hashes, well under a second).
  local logins
  logins=$(awk '/^Requests\/sec:/ { printf "%.1f", $2 }' "$dir/wrk-storm-alone.txt")
  sleep 2
  argon2=$(argon2_alone)
  echo "    ${logins} logins/s against argon2id alone right after: ${argon2} hashes/s," \
    "$(echo "scale=1; 100 * $logins / $argon2" | bc)%"
  printf '{"backend":"%s","scenario":"login share of argon2id","logins_per_s":%s,"argon2id_hashes_per_s":%s}\n' \
    "$backend" "$logins" "$argon2" >>"$work/results.jsonl"
  reset_peak_rss
  before=$(cpu_seconds)
  wrk_run "$dir/wrk-storm-jwks.txt" 1 /jwks get.lua &
  jwks_pid=$!
  wrk_run "$dir/wrk-storm-cc.txt" 1 /token post.lua BENCH_AUTHORIZATION="$(basic "$service_id" "$service_secret")" \
    BENCH_BODY="grant_type=client_credentials&scope=profile" &
  cc_pid=$!
  wrk_run "$dir/wrk-storm-login.txt" "$connections" /api/auth/login login.lua BENCH_BODY="$login_body"
  wait "$jwks_pid" "$cc_pid"
  after=$(cpu_seconds)
  take_peak
  # shellcheck disable=SC2046
  record "login-storm with probes" "$connections" $(wrk_figures "$dir/wrk-storm-login.txt") \
    "$(echo "$after - $before" | bc)" "$last_peak"
  # shellcheck disable=SC2046
  record "  jwks during the storm" 1 $(wrk_figures "$dir/wrk-storm-jwks.txt") ""
  # shellcheck disable=SC2046
  record "  client-credentials during storm" 1 $(wrk_figures "$dir/wrk-storm-cc.txt") ""
}

bench_backend() {
  local label=$1 dir="$work/$2" idle jwt argon2=''
  backend=$2
  mkdir -p "$dir"
  start_server "$dir"
  sleep 1
  idle=$(rss_mib VmRSS)
  echo "== $label  ($(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg))"
  echo "  first start to first discovery 200: ${start_ms} ms; idle RSS ${idle} MiB"
  create_principals
  fill_refresh_pool
  jwt=$(client_credentials_token)
  assert_active "$jwt"
  peak_rss=0
  print_header
  local cc_auth
  cc_auth=$(basic "$service_id" "$service_secret")
  scenario discovery $connections /.well-known/openid-configuration get.lua
  scenario jwks $connections /jwks get.lua
  scenario client-credentials $connections /token post.lua BENCH_AUTHORIZATION="$cc_auth" \
    BENCH_BODY="grant_type=client_credentials&scope=profile"
  scenario introspect $connections /introspect post.lua BENCH_AUTHORIZATION="$cc_auth" \
    BENCH_BODY="token=$jwt&token_type_hint=access_token"
  scenario userinfo $connections /userinfo get.lua BENCH_AUTHORIZATION="Bearer $user_access_token"
  fill_refresh_pool
  scenario refresh-rotation $connections /token refresh.lua \
    BENCH_AUTHORIZATION="$(basic "$web_id" "$web_secret")" BENCH_POOL="$work/pool"
  if selected refresh-rotation-no-id-token; then
    # The web client's session signs the lean client in too (SSO); bash keeps these two
    # assignments for the function call only.
    web_id=$lean_id web_secret=$lean_secret fill_refresh_pool
    scenario refresh-rotation-no-id-token $connections /token refresh.lua \
      BENCH_AUTHORIZATION="$(basic "$lean_id" "$lean_secret")" BENCH_POOL="$work/pool"
  fi
  if [[ -z ${FERRID_BENCH_ONLY:-} ]]; then
    auth_code_flow
  fi
  if selected login-storm; then
    login_storm
  fi
  [[ -n ${FERRID_BENCH_ONLY:-} ]] || echo "  scaling curve"
  for c in "${curve[@]}"; do
    [[ -z ${FERRID_BENCH_ONLY:-} ]] || break
    fill_refresh_pool
    scenario "refresh-rotation c=$c" "$c" /token refresh.lua \
      BENCH_AUTHORIZATION="$(basic "$web_id" "$web_secret")" BENCH_POOL="$work/pool"
    scenario "client-credentials c=$c" "$c" /token post.lua BENCH_AUTHORIZATION="$cc_auth" \
      BENCH_BODY="grant_type=client_credentials&scope=profile"
  done
  assert_active "$jwt"
  [[ -n $argon2 ]] || argon2=$(argon2_alone)
  echo "  peak RSS under load ${peak_rss} MiB; argon2id alone (m=$argon2_memory KiB, t=$argon2_iterations): ${argon2} hashes/s on one core"
  stop_server
  # A restart on the same data: the key ring is loaded, not generated (RSA key generation makes
  # most of the first start).
  local first_start_ms=$start_ms
  start_server "$dir"
  echo "  restart to first discovery 200: ${start_ms} ms (first start ${first_start_ms} ms, keys generated)"
  stop_server
  printf '{"backend":"%s","first_start_to_ready_ms":%s,"restart_to_ready_ms":%s,"idle_rss_mib":%s,"peak_rss_mib":%s,"argon2id_hashes_per_s":%s}\n' \
    "$backend" "$first_start_ms" "$start_ms" "$idle" "$peak_rss" "${argon2:-null}" >>"$work/results.jsonl"

}

command -v wrk >/dev/null || { echo "wrk is missing (apt-get install -y wrk)" >&2; exit 1; }
[[ -x $bin ]] || { echo "no release build at $bin (cargo build --release, or set FERRID_BIN)" >&2; exit 1; }
[[ -x $load_bin ]] || { echo "no load example at $load_bin (cargo build --release --example load)" >&2; exit 1; }
echo "ferrid $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?') on $(date -u +%F); $(lscpu | sed -n 's/^Model name: *//p');" \
  "wrk -t1 -c$connections -d$duration --latency; refresh pool $pool_size"
: >"$work/results.jsonl"

use_embedded
bench_backend "embedded: SQLite + in-process store" embedded

if [[ -n ${FERRID_BENCH_DATABASE_URL:-} && -n ${FERRID_BENCH_REDIS_URL:-} ]]; then
  use_postgres_redis
  bench_backend "PostgreSQL + Redis" postgres
fi

echo "== JSON lines"
cat "$work/results.jsonl"
if [[ -n ${FERRID_BENCH_JSON:-} ]]; then cp "$work/results.jsonl" "$FERRID_BENCH_JSON"; fi
