"""End to end: the thumbnails sample deployed from its SAM template, images of each format
uploaded over HTTP, thumbnails checked with Pillow, a broken image followed to the on-failure
queue, a redeploy with changed code, and the stack deleted."""

import io
import json
import os
import shutil
import subprocess

import boto3
import pytest
import requests
from PIL import Image

from deploy import SAMPLES, binary, delete, deploy, stack_name
from util import wait_until

pytestmark = pytest.mark.dynarock_only  # `dynarock deploy` is this server's tool

SAMPLE = SAMPLES / "thumbnails"
IMAGES = SAMPLE / "images"
GOOD = ["landscape.jpg", "portrait.png", "square.webp", "banner.gif", "rotated.jpg", "small.png"]
FORMAT = {"jpg": "JPEG", "png": "PNG", "webp": "WEBP", "gif": "GIF"}
TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif"}


def upload(api, name, data, content_type):
    r = requests.post(f"{api}/images/{name}", data=data, headers={"content-type": content_type}, timeout=30)
    return r


def thumbnail(api, name):
    r = requests.get(f"{api}/thumbnails/{name}", timeout=30)
    return r if r.status_code == 200 else None


def upright_size(data):
    """An image's size as shown: turned by its EXIF orientation."""
    image = Image.open(io.BytesIO(data))
    w, h = image.size
    return (h, w) if image.getexif().get(0x0112) in (5, 6, 7, 8) else (w, h)


def check_thumbnail(api, name, data):
    r = thumbnail(api, name)
    assert r is not None, name
    fmt = FORMAT[name.rsplit(".", 1)[1]]
    thumb = Image.open(io.BytesIO(r.content))
    assert thumb.format == fmt, name
    assert r.headers["content-type"] == TYPES[fmt]
    w, h = upright_size(data)
    if max(w, h) <= 128:
        assert thumb.size == (w, h), name
    else:
        assert max(thumb.size) == 128, (name, thumb.size)
        # The aspect ratio is kept (to a pixel of rounding).
        assert abs(thumb.size[0] / thumb.size[1] - w / h) < 2 / min(thumb.size), (name, thumb.size, (w, h))
    return thumb


@pytest.fixture
def sample_copy(tmp_path):
    """The sample in a folder of its own, so a test can change its code."""
    copy = tmp_path / "thumbnails"
    shutil.copytree(SAMPLE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def test_thumbnails_end_to_end(url, dynamodb, sample_copy):
    session = dynamodb.meta.client
    sqs = boto3.client(
        "sqs", endpoint_url=url, region_name=session.meta.region_name,
        aws_access_key_id="testing", aws_secret_access_key="testing")
    stack = stack_name("thumbs")
    first = deploy(url, sample_copy / "template.yaml", stack)
    try:
        assert set(first.actions.values()) == {"CREATE"}, first.stdout
        api = first.outputs["ApiUrl"]
        images = {name: (IMAGES / name).read_bytes() for name in GOOD}
        # A large JPEG, near DynamoDB's item limit, and one over it.
        big = io.BytesIO()
        Image.effect_noise((560, 560), 90).convert("RGB").save(big, format="JPEG", quality=95)
        assert 200_000 < len(big.getvalue()) < 390 * 1024
        images["big.jpg"] = big.getvalue()
        # The bundled images (the broken one among them) go up with the sample's script.
        script = subprocess.run([str(sample_copy / "upload.sh")], env={**os.environ, "API": api},
                                capture_output=True, text=True, timeout=120)
        assert script.returncode == 0, script.stderr
        for name in GOOD + ["broken.jpg"]:
            size = (IMAGES / name).stat().st_size
            assert f'{{"name": "{name}", "size": {size}}}' in script.stdout, script.stdout
        r = upload(api, "big.jpg", images["big.jpg"], "image/jpeg")
        assert r.status_code == 201 and r.json() == {"name": "big.jpg", "size": len(images["big.jpg"])}
        too_big = upload(api, "huge.bin", b"\0" * (400 * 1024), "application/octet-stream")
        assert too_big.status_code == 413
        after = io.BytesIO()
        Image.new("RGB", (300, 150), (10, 200, 30)).save(after, format="PNG")
        assert upload(api, "after-broken.png", after.getvalue(), "image/png").status_code == 201
        images["after-broken.png"] = after.getvalue()

        assert wait_until(lambda: all(thumbnail(api, n) for n in images), timeout=90)
        shown = {name: check_thumbnail(api, name, data) for name, data in images.items()}
        assert shown["rotated.jpg"].size == (72, 128)  # EXIF orientation honoured: upright
        assert shown["landscape.jpg"].size == (128, 96)
        assert shown["small.png"].size == (96, 64)  # never enlarged
        assert getattr(shown["banner.gif"], "n_frames", 1) >= 1

        # The broken image: no thumbnail, a clear log line, its record on the on-failure queue.
        missing = requests.get(f"{api}/thumbnails/broken.jpg", timeout=30)
        assert missing.status_code == 404
        assert missing.json() == {"message": "no thumbnail of broken.jpg (yet)"}
        queue = first.outputs["FailureQueueUrl"]
        got = {}

        def failure_arrived():
            r = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1)
            for m in r.get("Messages", []):
                got[m["MessageId"]] = json.loads(m["Body"])
            return bool(got)

        assert wait_until(failure_arrived, timeout=60)
        failure = next(iter(got.values()))
        assert failure["requestContext"]["condition"] == "RetryAttemptsExhausted"
        assert failure["requestContext"]["approximateInvokeCount"] == 3  # the first try and 2 retries
        info = failure["DDBStreamBatchInfo"]
        images_table = session.describe_table(TableName=first.outputs["ImagesTable"])["Table"]
        assert info["batchSize"] == 1 and info["streamArn"] == images_table["LatestStreamArn"]
        fn = first.outputs["ThumbnailFunction"]
        log = subprocess.run([binary(), "logs", fn, "--endpoint", url], capture_output=True, text=True,
                             timeout=30).stdout
        assert '"image": "broken.jpg", "error": "not a readable image' in log

        # A redeploy with changed code: only that function changes, the tables keep their items.
        app = sample_copy / "src" / "thumbnail" / "app.py"
        app.write_text(app.read_text().replace('"createdAt": int(time.time() * 1000),',
                                               '"createdAt": int(time.time() * 1000),\n                "codeVersion": 2,'))
        second = deploy(url, sample_copy / "template.yaml", stack)
        assert second.actions["ThumbnailFunction"] == "UPDATE", second.stdout
        assert [k for k, v in second.actions.items() if v != "UNCHANGED"] == ["ThumbnailFunction"]
        assert second.outputs == first.outputs
        thumbs = dynamodb.Table(first.outputs["ThumbnailsTable"])
        assert "codeVersion" not in thumbs.get_item(Key={"name": "landscape.jpg"})["Item"]
        assert upload(api, "redeployed.png", after.getvalue(), "image/png").status_code == 201
        assert wait_until(lambda: "Item" in thumbs.get_item(Key={"name": "redeployed.png"}), timeout=60)
        assert thumbs.get_item(Key={"name": "redeployed.png"})["Item"]["codeVersion"] == 2
        assert dynamodb.Table(first.outputs["ImagesTable"]).get_item(Key={"name": "landscape.jpg"})["Item"]["size"] \
            == len(images["landscape.jpg"])
    finally:
        delete(url, stack)
    tables = session.list_tables()["TableNames"]
    assert first.outputs["ImagesTable"] not in tables and first.outputs["ThumbnailsTable"] not in tables
    assert requests.get(f"{api}/thumbnails/landscape.jpg", timeout=30).status_code == 404
    assert delete(url, stack, check=False).returncode != 0  # already gone
