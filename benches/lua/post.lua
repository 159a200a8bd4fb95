-- wrk script: the same form POST on every request (introspection, client_credentials).
-- load.sh passes the form body and the client's Basic credentials in the environment, so
-- one script serves every fixed-request scenario. No response() callback: wrk then skips
-- handing each body to Lua, and its own "Non-2xx or 3xx responses" line counts failures.
wrk.method = "POST"
wrk.body = assert(os.getenv("BENCH_BODY"), "BENCH_BODY is not set")
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = assert(os.getenv("BENCH_AUTHORIZATION"), "BENCH_AUTHORIZATION is not set")
