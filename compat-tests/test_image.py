"""The container image's filesystem, run as the image runs it: docker/rootfs.sh assembles the tree
the Dockerfile copies into `FROM scratch`, and the server runs in it under chroot as the image's
unprivileged user, configured by the image's DYNAROCK_* variables. No registry or container
engine is needed; the Dockerfile itself is linted by hadolint in CI."""

import json
import os
import pathlib
import shutil
import signal
import subprocess

import pytest

from conftest import free_port
from util import wait_until

pytestmark = pytest.mark.dynarock_only  # the image is dynarock's

ROOT = pathlib.Path(__file__).resolve().parent.parent
ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
       "PATH": os.environ["PATH"]}


@pytest.fixture(scope="module")
def rootfs(tmp_path_factory):
    if os.geteuid() != 0 or "DYNAROCK_BIN" not in os.environ:
        pytest.skip("chroot needs root, and the dynarock binary")
    root = tmp_path_factory.mktemp("image") / "rootfs"
    subprocess.run([str(ROOT / "docker" / "rootfs.sh"), os.environ["DYNAROCK_BIN"], str(root)], check=True)
    return root


def start(root, port):
    """The image's entrypoint and command, with the image's environment."""
    env = {"DYNAROCK_HOST": "127.0.0.1", "DYNAROCK_DATA_DIR": "/data", "DYNAROCK_PORT": str(port),
           "PATH": os.environ["PATH"]}
    return subprocess.Popen(["chroot", "--userspec=10001:10001", str(root), "/usr/local/bin/dynarock", "serve"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def ready(root, port):
    return subprocess.run(["chroot", "--userspec=10001:10001", str(root), "/usr/local/bin/dynarock", "ready",
                           "--endpoint", f"http://127.0.0.1:{port}"], capture_output=True, text=True).returncode == 0


def aws(port, *args):
    done = subprocess.run(["aws", "--endpoint-url", f"http://127.0.0.1:{port}", "dynamodb", *args], env=ENV,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout) if done.stdout.strip() else None


def test_the_image_tree_is_small_and_holds_what_the_server_needs(rootfs):
    files = [p for p in rootfs.rglob("*") if p.is_file()]
    size = sum(p.stat().st_size for p in files)
    assert size < 30 * 1024 * 1024, f"{size / 1048576:.1f} MiB"
    assert (rootfs / "usr/local/bin/dynarock").is_file()
    assert (rootfs / "data").stat().st_uid == 10001 and (rootfs / "tmp").is_dir()
    # Nothing but the binary and the libraries it loads.
    assert {p.name for p in files} - {"dynarock"} <= {"libc.so.6", "libm.so.6", "libstdc++.so.6", "libgcc_s.so.1",
                                                       "ld-linux-x86-64.so.2"}


def test_the_image_serves_and_keeps_acknowledged_writes_across_a_stop(rootfs):
    port = free_port()
    server = start(rootfs, port)
    try:
        assert wait_until(lambda: ready(rootfs, port), timeout=20)
        aws(port, "create-table", "--table-name", "kept", "--billing-mode", "PAY_PER_REQUEST",
            "--attribute-definitions", "AttributeName=p,AttributeType=S", "--key-schema", "AttributeName=p,KeyType=HASH")
        aws(port, "put-item", "--table-name", "kept", "--item", '{"p": {"S": "acknowledged"}}')
    finally:
        server.send_signal(signal.SIGTERM)  # what `docker stop` sends (STOPSIGNAL)
        out, _ = server.communicate(timeout=30)
    assert server.returncode == 0 and "stopped cleanly" in out, out
    assert not ready(rootfs, port)
    # The same /data again: the write is there.
    port = free_port()
    server = start(rootfs, port)
    try:
        assert wait_until(lambda: ready(rootfs, port), timeout=20)
        got = aws(port, "get-item", "--table-name", "kept", "--key", '{"p": {"S": "acknowledged"}}')
        assert got["Item"] == {"p": {"S": "acknowledged"}}
    finally:
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=30)


def test_the_dockerfile_runtime_stage_builds_from_the_tree_with_podman(rootfs, tmp_path):
    """The Dockerfile's final stage as written, built by podman from the assembled tree (its build
    stage needs a registry; this one needs none): size, user, volume, signal and health check."""
    podman = shutil.which("podman")
    if podman is None:
        if os.environ.get("CI"):
            pytest.fail("CI installs podman (.ci/run): it is missing")
        pytest.skip("needs podman")
    dockerfile = (ROOT / "Dockerfile").read_text()
    runtime = dockerfile[dockerfile.index("FROM scratch"):].replace("COPY --from=build /rootfs /", "COPY rootfs/ /")
    assert "COPY rootfs/ /" in runtime
    (tmp_path / "Containerfile").write_text(runtime)
    shutil.copytree(rootfs, tmp_path / "rootfs", symlinks=True)
    tag = f"localhost/dynarock-image-test:{os.getpid()}"
    built = subprocess.run([podman, "build", "--format", "docker", "-t", tag, str(tmp_path)],
                           capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    try:
        inspected = subprocess.run([podman, "image", "inspect", tag], capture_output=True, text=True, timeout=60)
        image = json.loads(inspected.stdout)[0]
        config = image["Config"]
        assert image["Size"] < 30 * 1024 * 1024, image["Size"]
        assert config["User"] == "10001:10001" and config["StopSignal"] == "SIGTERM"
        assert "/data" in config["Volumes"] and "8000/tcp" in config["ExposedPorts"]
        assert {"DYNAROCK_HOST=0.0.0.0", "DYNAROCK_DATA_DIR=/data"} <= set(config["Env"])
        assert config["Entrypoint"] == ["/usr/local/bin/dynarock"] and config["Cmd"] == ["serve"]
        assert image["Healthcheck"]["Test"] == ["CMD", "/usr/local/bin/dynarock", "ready"]
    finally:
        subprocess.run([podman, "rmi", "-f", tag], capture_output=True, timeout=60)
