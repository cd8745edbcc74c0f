-- TransactWriteItems of four random ~200-byte puts into bench_kv.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")
OP = "TransactWriteItems"

function body()
  local start = math.random(0, ITEMS - 1)
  local puts = {}
  for i = 0, 3 do
    puts[#puts + 1] = string.format(
      '{"Put":{"TableName":"%s","Item":{"pk":{"S":"%s"},"n":{"N":"%d"},"data":{"S":"%s"}}}}',
      TABLE, key((start + i * 24989) % ITEMS), math.random(0, 1000000000), PAYLOAD)
  end
  return '{"TransactItems":[' .. table.concat(puts, ",") .. ']}'
end
