"""Makes a thumbnail of each image written to the Images table (its stream's NEW_IMAGE).

As in AWS's thumbnail tutorial: the image is resized with Pillow to fit a square of
THUMBNAIL_SIZE pixels, keeping its aspect ratio, after turning it upright as its EXIF
orientation says; JPEG, PNG, WebP and GIF keep their format. The thumbnail is written to the
Thumbnails table with its dimensions, format and the source's size.

An image that cannot be read fails the batch after the good ones are done: the mapping bisects
the batch until the bad record is alone, retries it, then sends it to the on-failure queue, and
the shard moves on.
"""
import base64
import io
import json
import os
import time

import boto3
from PIL import Image, ImageOps

THUMBNAILS = boto3.resource("dynamodb").Table(os.environ["THUMBNAILS_TABLE"])
SIZE = int(os.environ.get("THUMBNAIL_SIZE", "128"))
FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif"}


class UnreadableImage(Exception):
    pass


def thumbnail(data):
    """The thumbnail of `data`: (bytes, format, width, height, source width, source height)."""
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except Exception as e:  # Pillow raises several kinds for bad input
        raise UnreadableImage(str(e)) from e
    fmt = image.format
    if fmt not in FORMATS:
        raise UnreadableImage(f"format {fmt} is not one of {', '.join(FORMATS)}")
    source = image.size
    image = ImageOps.exif_transpose(image)
    image.thumbnail((SIZE, SIZE))
    if fmt == "JPEG" and image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    out = io.BytesIO()
    image.save(out, format=fmt)
    return out.getvalue(), fmt, image.width, image.height, source[0], source[1]


def handler(event, context):
    failed = []
    for record in event["Records"]:
        # Stream records carry DynamoDB JSON: binary values in base64.
        image = record["dynamodb"]["NewImage"]
        name = image["name"]["S"]
        data = base64.b64decode(image["image"]["B"])
        try:
            thumb, fmt, width, height, source_width, source_height = thumbnail(data)
        except UnreadableImage as e:
            print(json.dumps({"level": "ERROR", "image": name, "error": f"not a readable image: {e}"}))
            failed.append(name)
            continue
        THUMBNAILS.put_item(
            Item={
                "name": name,
                "image": thumb,
                "format": fmt,
                "contentType": FORMATS[fmt],
                "width": width,
                "height": height,
                "sourceSize": len(data),
                "sourceWidth": source_width,
                "sourceHeight": source_height,
                "createdAt": int(time.time() * 1000),
            }
        )
        print(json.dumps({"image": name, "thumbnail": f"{width}x{height}", "format": fmt}))
    if failed:
        # Failing the batch hands the bad records to the mapping's retries and on-failure queue.
        raise UnreadableImage(f"could not read {len(failed)} image(s): {', '.join(failed)}")
    return {"thumbnails": len(event["Records"])}
