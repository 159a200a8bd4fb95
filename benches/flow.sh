#!/usr/bin/env bash
# Times complete sign-ins from a client on this machine: authorize → login page → password
# login → code → token (with PKCE) → userinfo, against a release build on the embedded defaults.
#   cargo build --release && bash benches/flow.sh [ROUNDS]
# Prints the median and p95 of the whole flow, and of each step.
set -euo pipefail
rounds=${1:-50}
bin=${FERRID_BIN:-$(cd "$(dirname "$0")/.." && pwd)/target/release/ferrid}
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
export FERRID_DATA_DIR="$work/data" FERRID_BIND="127.0.0.1:$port" FERRID_ISSUER="$base" FERRID_LOG=warn
cd "$work"
"$bin" serve >"$work/log" 2>&1 & pid=$!
until curl -sf "$base/ready" >/dev/null; do sleep 0.05; done
echo 'correct horse battery staple' | "$bin" user create --email bench@example.com >/dev/null
client=$("$bin" client create --name bench --first-party --redirect-uri http://127.0.0.1:9/cb \
  --scope openid --scope email 2>/dev/null)
id=$(sed -n 's/^client_id: //p' <<<"$client"); secret=$(sed -n 's/^client_secret: //p' <<<"$client")

ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
field() { grep -o "name=\"$1\" value=\"[^\"]*\"" | head -1 | sed 's/.*value="//; s/"$//'; }
: >"$work/times"
for _ in $(seq "$rounds"); do
  jar="$work/jar"; rm -f "$jar"
  verifier=$(head -c 48 /dev/urandom | base64 | tr -d '=+/\n' | cut -c1-64)
  challenge=$(printf '%s' "$verifier" | openssl dgst -sha256 -binary | base64 | tr '+/' '-_' | tr -d '=')
  t0=$(date +%s%N)
  login=$(curl -s -c "$jar" -b "$jar" -o /dev/null -w '%{redirect_url}' \
    "$base/authorize?response_type=code&client_id=$id&redirect_uri=http://127.0.0.1:9/cb&scope=openid%20email&state=s&code_challenge=$challenge&code_challenge_method=S256")
  page=$(curl -s -c "$jar" -b "$jar" "$login")
  t_authorize=$(ms "$t0"); t1=$(date +%s%N)
  resume=$(curl -s -c "$jar" -b "$jar" -o /dev/null -w '%{redirect_url}' "$base/login" \
    --data-urlencode "request=$(field request <<<"$page")" --data-urlencode "csrf=$(field csrf <<<"$page")" \
    --data-urlencode email=bench@example.com --data-urlencode 'password=correct horse battery staple')
  back=$(curl -s -c "$jar" -b "$jar" -o /dev/null -w '%{redirect_url}' "$resume")
  code=$(sed -n 's/.*[?&]code=\([^&]*\).*/\1/p' <<<"$back")
  t_login=$(ms "$t1"); t2=$(date +%s%N)
  access=$(curl -s -u "$id:$secret" "$base/token" -d grant_type=authorization_code -d "code=$code" \
    -d redirect_uri=http://127.0.0.1:9/cb -d "code_verifier=$verifier" | sed 's/.*"access_token":"\([^"]*\)".*/\1/')
  t_token=$(ms "$t2"); t3=$(date +%s%N)
  curl -sf -H "Authorization: Bearer $access" "$base/userinfo" | grep -q bench@example.com
  t_userinfo=$(ms "$t3")
  echo "$(ms "$t0") $t_authorize $t_login $t_token $t_userinfo" >>"$work/times"
done
python3 - "$work/times" <<'PY'
import sys
rows = [list(map(int, line.split())) for line in open(sys.argv[1])]
names = ["whole flow", "authorize + login page", "password login + code", "token", "userinfo"]
for i, name in enumerate(names):
    values = sorted(r[i] for r in rows)
    p = lambda q: values[min(len(values) - 1, int(q * len(values)))]
    print(f"{name:24} median {p(0.5):4d} ms   p95 {p(0.95):4d} ms   ({len(values)} rounds)")
PY
