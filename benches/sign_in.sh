# Shared by the benchmark scripts (sourced): one sign-in of the web client through the browser
# flow with curl. Expects web_id, redirect, email, password and work to be set.

form_field() { grep -o "name=\"$1\" value=\"[^\"]*\"" | head -1 | sed 's/.*value="//; s/"$//'; }

# authorize_code BASE: a code for the web client at BASE and its PKCE verifier ("code verifier").
# The first call signs in with the password (the cookie jar keeps the session), later ones ride
# the session (SSO), so a pool of refresh tokens costs one argon2 verification, not one per token.
authorize_code() {
  local base=$1 jar="$work/jar" verifier challenge next page
  verifier=$(head -c 48 /dev/urandom | base64 | tr -d '=+/\n' | cut -c1-64)
  challenge=$(printf '%s' "$verifier" | openssl dgst -sha256 -binary | base64 | tr '+/' '-_' | tr -d '=')
  next=$(curl -s -c "$jar" -b "$jar" -o /dev/null -w '%{redirect_url}' \
    "$base/authorize?response_type=code&client_id=$web_id&redirect_uri=$redirect&scope=openid%20offline_access&state=s&code_challenge=$challenge&code_challenge_method=S256")
  if [[ $next == "$base/login"* ]]; then
    page=$(curl -s -c "$jar" -b "$jar" "$next")
    next=$(curl -s -c "$jar" -b "$jar" -o /dev/null -w '%{redirect_url}' "$base/login" \
      --data-urlencode "request=$(form_field request <<<"$page")" --data-urlencode "csrf=$(form_field csrf <<<"$page")" \
      --data-urlencode "email=$email" --data-urlencode "password=$password")
    next=$(curl -s -c "$jar" -b "$jar" -o /dev/null -w '%{redirect_url}' "$next")
  fi
  echo "$(sed -n 's/.*[?&]code=\([^&]*\).*/\1/p' <<<"$next") $verifier"
}
