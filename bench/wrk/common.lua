-- Shared by dynarock's own wrk scenarios (bench/wrk/*.lua). Tables and keys follow the team's
-- reference setup (bench_kv: hash `pk`, keys k00000000.., ~200-byte items).
--   wrk -t2 -c32 -d10s -s bench/wrk/<scenario>.lua http://127.0.0.1:8000
-- A scenario defines body() returning the request body and sets OP; non-2xx answers (and
-- answers failing the scenario's optional check(body)) are counted as failures.

ITEMS = tonumber(os.getenv("BENCH_ITEMS") or "100000")
TABLE = "bench_kv"

local function headers(op)
  return {
    ["Content-Type"] = "application/x-amz-json-1.0",
    ["X-Amz-Target"] = "DynamoDB_20120810." .. op,
    ["X-Amz-Date"] = os.date("!%Y%m%dT%H%M%SZ"),
    ["Authorization"] = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/" .. os.date("!%Y%m%d")
      .. "/us-east-1/dynamodb/aws4_request, SignedHeaders=host;x-amz-date;x-amz-target, Signature="
      .. string.rep("0123456789abcdef", 4),
  }
end

function key(i) return string.format("k%08d", i) end

local threads = {}
function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init()
  math.randomseed(1 + tid * 7919)
  local t = {}
  for i = 1, 170 do t[i] = string.char(97 + math.random(0, 25)) end
  PAYLOAD = table.concat(t)
  HEADERS = headers(OP)
  bad = 0
end

function request()
  return wrk.format("POST", "/", HEADERS, body())
end

function response(status, _, text)
  if status ~= 200 or (check and not check(text)) then bad = bad + 1 end
end

function done(summary, latency)
  local bad_total = 0
  for _, t in ipairs(threads) do bad_total = bad_total + (t:get("bad") or 0) end
  local secs = summary.duration / 1e6
  io.write(string.format(
    "BENCH requests=%d seconds=%.3f rps=%.1f p50_us=%d p90_us=%d p99_us=%d max_us=%d non2xx=%d\n",
    summary.requests, secs, summary.requests / secs, latency:percentile(50),
    latency:percentile(90), latency:percentile(99), latency.max, bad_total))
end
