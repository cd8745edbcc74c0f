-- BatchWriteItem of 25 random ~200-byte items into bench_kv.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")
OP = "BatchWriteItem"

function body()
  -- 25 distinct keys: a random start and a stride that cannot wrap onto itself.
  local start = math.random(0, ITEMS - 1)
  local puts = {}
  for i = 0, 24 do
    puts[#puts + 1] = string.format(
      '{"PutRequest":{"Item":{"pk":{"S":"%s"},"n":{"N":"%d"},"data":{"S":"%s"}}}}',
      key((start + i * 3989) % ITEMS), math.random(0, 1000000000), PAYLOAD)
  end
  return string.format('{"RequestItems":{"%s":[%s]}}', TABLE, table.concat(puts, ","))
end

function check(text) return text:find('"UnprocessedItems":{}', 1, true) ~= nil end
