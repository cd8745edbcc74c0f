-- PutItem of a random ~200-byte item (the baseline for the write scenarios).
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")
OP = "PutItem"

function body()
  return string.format('{"TableName":"%s","Item":{"pk":{"S":"%s"},"n":{"N":"%d"},"data":{"S":"%s"}}}',
    TABLE, key(math.random(0, ITEMS - 1)), math.random(0, 1000000000), PAYLOAD)
end
