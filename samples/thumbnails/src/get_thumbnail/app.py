"""GET /thumbnails/{name}: the thumbnail as an image a browser shows (base64 to API Gateway,
which sends the bytes with the content type)."""
import base64
import json
import os

import boto3

TABLE = boto3.resource("dynamodb").Table(os.environ["THUMBNAILS_TABLE"])


def handler(event, context):
    name = (event.get("pathParameters") or {}).get("name", "")
    item = TABLE.get_item(Key={"name": name}).get("Item") if name else None
    if item is None:
        return {
            "statusCode": 404,
            "headers": {"content-type": "application/json"},
            "body": json.dumps({"message": f"no thumbnail of {name} (yet)"}),
        }
    return {
        "statusCode": 200,
        "headers": {
            "content-type": item["contentType"],
            "x-thumbnail-size": f"{item['width']}x{item['height']}",
            "cache-control": "no-cache",
        },
        "isBase64Encoded": True,
        "body": base64.b64encode(bytes(item["image"])).decode(),
    }
