"""The check path must stay light: no torch, no gradio, no ray, nothing of vision.train."""

import subprocess
import sys

from tests.conftest import ROOT

PROBE = """
import sys, json
import vision, vision.check, vision.scan, vision.cli
from vision.cli import main
code = main(["check", sys.argv[1], "--json", "--gallery", sys.argv[2]])
heavy = sorted(m for m in ("torch", "torchvision", "gradio", "ray", "vision.train") if m in sys.modules)
print(json.dumps({"code": code, "heavy": heavy}))
"""


def test_check_does_not_import_torch(tmp_path, built_gallery):
    from tests.conftest import listing
    from vision import synth

    synth.save_rgb(tmp_path / "p.jpg", listing("nike", 3))
    r = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path / "p.jpg"), str(built_gallery)],
                       capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr
    last = r.stdout.strip().splitlines()[-1]
    assert '"heavy": []' in last and '"code": 0' in last, last
