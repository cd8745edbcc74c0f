-- BatchWriteItem of 25 random ~200-byte items into bench_kv (the reference scripts' table).
-- Loaded by the reference run.sh as a scenario: copy or link it next to its wrk/*.lua, or run
--   wrk -t2 -c32 -d10s -s bench/wrk/batch_write.lua http://127.0.0.1:8000
-- Non-2xx answers and answers with UnprocessedItems are counted as failures.

local ITEMS = tonumber(os.getenv("BENCH_ITEMS") or "100000")
local TABLE = "bench_kv"

local headers = {
  ["Content-Type"] = "application/x-amz-json-1.0",
  ["X-Amz-Target"] = "DynamoDB_20120810.BatchWriteItem",
  ["X-Amz-Date"] = os.date("!%Y%m%dT%H%M%SZ"),
  ["Authorization"] = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/" .. os.date("!%Y%m%d")
    .. "/us-east-1/dynamodb/aws4_request, SignedHeaders=host;x-amz-date;x-amz-target, Signature="
    .. string.rep("0123456789abcdef", 4),
}

local threads = {}
function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init()
  math.randomseed(1 + tid * 7919)
  local t = {}
  for i = 1, 170 do t[i] = string.char(97 + math.random(0, 25)) end
  payload = table.concat(t)
  bad = 0
end

function request()
  -- 25 distinct keys: a random start and a stride that cannot wrap onto itself.
  local start = math.random(0, ITEMS - 1)
  local puts = {}
  for i = 0, 24 do
    puts[#puts + 1] = string.format(
      '{"PutRequest":{"Item":{"pk":{"S":"k%08d"},"n":{"N":"%d"},"data":{"S":"%s"}}}}',
      (start + i * 3989) % ITEMS, math.random(0, 1000000000), payload)
  end
  local body = string.format('{"RequestItems":{"%s":[%s]}}', TABLE, table.concat(puts, ","))
  return wrk.format("POST", "/", headers, body)
end

function response(status, _, body)
  if status ~= 200 or not body:find('"UnprocessedItems":{}', 1, true) then
    bad = bad + 1
  end
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
