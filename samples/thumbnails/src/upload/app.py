"""POST /images/{name}: stores the request body (an image) in the Images table.

API Gateway hands binary bodies to the function in base64 (isBase64Encoded). The image goes in
the item itself, so it must fit DynamoDB's 400 KB item limit; see the README for what a real
deployment does with larger images (S3).
"""
import base64
import json
import os
import re
import time

import boto3

TABLE = boto3.resource("dynamodb").Table(os.environ["IMAGES_TABLE"])
# The item limit is 400 KB, name and attributes included.
MAX_IMAGE_BYTES = 390 * 1024
NAME = re.compile(r"^[A-Za-z0-9._-]{1,200}$")


def answer(status, body):
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json"},
        "body": json.dumps(body),
    }


def handler(event, context):
    name = (event.get("pathParameters") or {}).get("name", "")
    if not NAME.match(name):
        return answer(400, {"message": "an image name is 1 to 200 letters, digits, '.', '_' or '-'"})
    body = event.get("body") or ""
    data = base64.b64decode(body) if event.get("isBase64Encoded") else body.encode()
    if not data:
        return answer(400, {"message": "send the image as the request body"})
    if len(data) > MAX_IMAGE_BYTES:
        return answer(413, {"message": f"images up to {MAX_IMAGE_BYTES} bytes are stored in the table"})
    content_type = event.get("headers", {}).get("content-type", "application/octet-stream")
    TABLE.put_item(
        Item={
            "name": name,
            "image": data,
            "contentType": content_type,
            "size": len(data),
            "uploadedAt": int(time.time() * 1000),
        }
    )
    print(json.dumps({"uploaded": name, "bytes": len(data)}))
    return answer(201, {"name": name, "size": len(data)})
