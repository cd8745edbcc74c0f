-- TransactGetItems of four random items of bench_kv.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")
OP = "TransactGetItems"

function body()
  local start = math.random(0, ITEMS - 1)
  local gets = {}
  for i = 0, 3 do
    gets[#gets + 1] = string.format('{"Get":{"TableName":"%s","Key":{"pk":{"S":"%s"}}}}',
      TABLE, key((start + i * 24989) % ITEMS))
  end
  return '{"TransactItems":[' .. table.concat(gets, ",") .. ']}'
end
