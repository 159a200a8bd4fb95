-- wrk script: refresh_token grant with rotation (RFC 6749 §6, RFC 9700 §4.14.2).
-- Each request takes a refresh token from a pool (one per line in $BENCH_POOL, from real
-- sign-ins) and response() puts the rotated token from the answer back. A rotated token is dead,
-- and presenting it again revokes its whole family, so a token must never be used twice: with
-- `wrk -t1` a single Lua state holds the pool, and a token leaves it before its request is sent.
-- A 400 therefore means a bug in this bookkeeping (or in ferrid's rotation), never "expected".

local authorization = assert(os.getenv("BENCH_AUTHORIZATION"), "BENCH_AUTHORIZATION is not set")
local headers = {
  ["Content-Type"] = "application/x-www-form-urlencoded",
  ["Authorization"] = authorization,
}

local pool = {}
local pool_file = assert(os.getenv("BENCH_POOL"), "BENCH_POOL is not set")
for line in io.lines(pool_file) do
  if line ~= "" then pool[#pool + 1] = line end
end

-- Globals, so done() (which runs in wrk's main Lua state) can read them with thread:get().
non2xx = 0      -- answers other than 200
empty = 0       -- requests sent while the pool was empty (more connections than tokens)
unparsed = 0    -- 200 answers without a refresh_token to put back

local threads = {}
function setup(thread)
  threads[#threads + 1] = thread
end

-- Opaque tokens are base64url, but encode anyway so a format change cannot corrupt the form.
local function form_encode(value)
  return (value:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

-- Note: wrk calls request() once at start-up to inspect it, so one pool token is spent unsent.
function request()
  local token = table.remove(pool)
  if token == nil then
    empty = empty + 1
    token = "pool-empty"
  end
  return wrk.format("POST", nil, headers, "grant_type=refresh_token&refresh_token=" .. form_encode(token))
end

function response(status, _, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
    return
  end
  -- A simple pattern is enough for ferrid's compact JSON: "refresh_token":"<token>".
  local token = body:match('"refresh_token"%s*:%s*"([^"]+)"')
  if token then
    pool[#pool + 1] = token
  else
    unparsed = unparsed + 1
  end
end

function done()
  for _, thread in ipairs(threads) do
    io.write(string.format("refresh-pool: non2xx=%d empty=%d unparsed=%d\n",
      thread:get("non2xx"), thread:get("empty"), thread:get("unparsed")))
  end
end
