"""Helpers for the tests of `dynarock deploy` and the samples: the command run against a
server, its printed actions and outputs read back."""

import os
import pathlib
import subprocess

import pytest

from util import random_string

SAMPLES = pathlib.Path(__file__).resolve().parent.parent / "samples"


def binary():
    if "DYNAROCK_BIN" not in os.environ:
        pytest.skip("needs the dynarock binary (compat-tests/run.sh sets it)")
    return os.environ["DYNAROCK_BIN"]


def stack_name(prefix):
    return f"{prefix}-{random_string(6).lower()}"


class Deployed:
    """What one `dynarock deploy` printed: {logical id: action} and the outputs."""

    def __init__(self, stdout):
        self.stdout = stdout
        self.actions = {}
        self.outputs = {}
        in_outputs = False
        for line in stdout.splitlines():
            if line == "Outputs:":
                in_outputs = True
            elif in_outputs and " = " in line:
                k, v = line.strip().split(" = ", 1)
                self.outputs[k] = v
            elif line.startswith("  ") and not in_outputs:
                action, logical = line.split()[:2]
                self.actions[logical] = action


def deploy(url, template, stack, *args, check=True, timeout=300):
    """Runs `dynarock deploy`; the result (a Deployed), or the failed process when check=False."""
    r = subprocess.run(
        [binary(), "deploy", str(template), "--stack-name", stack, "--endpoint", url, *args],
        capture_output=True, text=True, timeout=timeout,
        env={**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"},
    )
    if not check:
        return r
    assert r.returncode == 0, f"deploy failed:\n{r.stdout}\n{r.stderr}"
    return Deployed(r.stdout)


def delete(url, stack, check=True):
    r = subprocess.run([binary(), "deploy", "--delete", "--stack-name", stack, "--endpoint", url],
                       capture_output=True, text=True, timeout=120)
    if check:
        assert r.returncode == 0, f"delete failed:\n{r.stdout}\n{r.stderr}"
    return r
