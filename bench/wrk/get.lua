-- GetItem of a random item (the baseline for the read scenarios).
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")
OP = "GetItem"

function body()
  return string.format('{"TableName":"%s","Key":{"pk":{"S":"%s"}}}', TABLE, key(math.random(0, ITEMS - 1)))
end
