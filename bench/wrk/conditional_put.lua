-- PutItem of a random ~200-byte item with a condition that holds (n is always >= 0).
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")
OP = "PutItem"

function body()
  return string.format(
    '{"TableName":"%s","Item":{"pk":{"S":"%s"},"n":{"N":"%d"},"data":{"S":"%s"}},'
      .. '"ConditionExpression":"attribute_not_exists(n) OR n >= :z","ExpressionAttributeValues":{":z":{"N":"0"}}}',
    TABLE, key(math.random(0, ITEMS - 1)), math.random(0, 1000000000), PAYLOAD)
end
