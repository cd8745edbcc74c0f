-- Query of one random partition of bench_q (1000 partitions of 10 items: hash `pk`, range `sk`).
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")
OP = "Query"
local PARTITIONS = tonumber(os.getenv("BENCH_PARTITIONS") or "1000")

function body()
  return string.format(
    '{"TableName":"bench_q","KeyConditionExpression":"pk = :p","ExpressionAttributeValues":{":p":{"S":"p%06d"}}}',
    math.random(0, PARTITIONS - 1))
end

function check(text) return text:find('"Count":10', 1, true) ~= nil end
