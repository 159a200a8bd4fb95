-- wrk script: password logins at full rate through the first-party login API (the "login
-- storm"): every request is one argon2id verification. The JSON body comes in $BENCH_BODY; the
-- X-Requested-With header is the API's CSRF guard for callers without an Origin.
wrk.method = "POST"
wrk.body = assert(os.getenv("BENCH_BODY"), "BENCH_BODY is not set")
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Requested-With"] = "wrk"
