-- wrk script: the same GET on every request (discovery, JWKS, userinfo). An access token for
-- userinfo comes in $BENCH_AUTHORIZATION ("Bearer …"); without it the request is anonymous.
wrk.method = "GET"
local authorization = os.getenv("BENCH_AUTHORIZATION")
if authorization and authorization ~= "" then
  wrk.headers["Authorization"] = authorization
end
