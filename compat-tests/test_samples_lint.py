"""The samples' templates are valid for AWS: cfn-lint (which applies the SAM transform offline)
finds nothing in them, so "deploys to AWS unchanged" is checked, not claimed."""

import subprocess
import sys

import pytest

from deploy import SAMPLES

# cfn-lint's command, run with this Python (its script may not be on PATH).
LINT = "import sys; from cfnlint.runner import main; sys.exit(main())"
TEMPLATES = sorted(SAMPLES.glob("*/template.yaml"))


def test_every_sample_has_a_template():
    assert {t.parent.name for t in TEMPLATES} >= {"thumbnails", "cron-job"}


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda t: t.parent.name)
def test_cfn_lint_finds_nothing(template):
    r = subprocess.run([sys.executable, "-c", LINT, str(template)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr


def test_cfn_lint_does_find_mistakes(tmp_path):
    bad = tmp_path / "template.yaml"
    text = (SAMPLES / "thumbnails" / "template.yaml").read_text()
    bad.write_text(text.replace("Runtime: python3.12", "Runtime: python9.9"))
    r = subprocess.run([sys.executable, "-c", LINT, str(bad)], capture_output=True, text=True, timeout=300)
    assert r.returncode != 0 and "python9.9" in r.stdout
