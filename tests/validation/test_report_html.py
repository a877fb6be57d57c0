"""The HTML report opened in a real browser (headless Chromium): it renders something, and every
embedded image decodes.  scripts/setup.sh installs Debian's ``chromium``; without it locally the
test is skipped."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import numpy as np
import pytest

from tests.validation.synthetic import record
from validation.analysis import analyze
from validation.predictions import TableChoice
from validation.report import write_report

CHROMIUM = next((p for p in (shutil.which(n) for n in ("chromium", "chromium-browser",
                                                       "google-chrome")) if p), None)

pytestmark = pytest.mark.skipif(CHROMIUM is None,
                                reason="chromium is not installed (scripts/setup.sh installs it)")


def _chromium(tmp_path, *args: str) -> subprocess.CompletedProcess:
    cmd = [CHROMIUM, "--headless", "--disable-gpu", "--no-first-run", "--hide-scrollbars",
           f"--user-data-dir={tmp_path / 'profile'}", *args]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.insert(1, "--no-sandbox")          # Chromium refuses to run as root with a sandbox
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    recs = [record("lenet_int8", "s8-opt", [1.0, 1.1, 0.9, 1.0, 1.0, 1.3, 1.0, 1.0, 1.0]),
            record("lenet_f32", "f32"), record("resnet20_f32", "f32", status="oversized")]
    return write_report(analyze(recs, TableChoice()), out, {"suite": "synthetic"})["html"]


def test_screenshot_is_not_blank(report, tmp_path):
    shot = tmp_path / "shot.png"
    r = _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1200,1600",
                  report.as_uri())
    assert shot.is_file(), r.stderr[-2000:]
    from PIL import Image

    px = np.asarray(Image.open(shot).convert("L"), float)
    assert px.shape == (1600, 1200)
    assert px.std() > 10, "the screenshot is (nearly) one colour"
    assert (px < 128).mean() > 0.01, "hardly any dark pixels: no text rendered"


def test_every_image_loads(report, tmp_path):
    n_img = len(re.findall(r"<img\b", report.read_text()))
    assert n_img >= 4
    r = _chromium(tmp_path, "--dump-dom", "--virtual-time-budget=10000", report.as_uri())
    assert r.returncode == 0, r.stderr[-2000:]
    body = re.search(r"<body([^>]*)>", r.stdout)
    assert body, r.stdout[:500]
    attrs = dict(re.findall(r'(data-images-\w+)="(\d+)"', body.group(1)))
    assert attrs.get("data-images-total") == str(n_img), attrs
    assert attrs.get("data-images-loaded") == str(n_img), attrs
