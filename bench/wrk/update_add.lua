-- UpdateItem `SET n = n + :v` on a random existing item.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")
OP = "UpdateItem"

function body()
  return string.format(
    '{"TableName":"%s","Key":{"pk":{"S":"%s"}},"UpdateExpression":"SET n = n + :v",'
      .. '"ExpressionAttributeValues":{":v":{"N":"1"}}}',
    TABLE, key(math.random(0, ITEMS - 1)))
end
