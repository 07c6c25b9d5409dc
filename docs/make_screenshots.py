"""Remake the README's pictures (docs/images/*.png) from real JupyterLab: run from the
repository's root with the test extra installed and Debian's Chromium at /usr/bin/chromium:

    python docs/make_screenshots.py

It runs tests/browser/test_readme_screenshots.py (JupyterLab against the local xAI stand-in, no
key and no network needed) with GROK_SCREENSHOTS pointing at docs/images, so each picture is
checked for what it must show before it is saved, as 256-colour PNGs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IMAGES = ROOT / "docs" / "images"


def main() -> int:
    IMAGES.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "GROK_SCREENSHOTS": str(IMAGES), "GROK_BROWSER_REQUIRED": "1"}
    code = subprocess.call(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-m", "browser",
         "tests/browser/test_readme_screenshots.py"], cwd=ROOT, env=env)
    for path in sorted(IMAGES.glob("*.png")):
        print(f"{path.relative_to(ROOT)}: {path.stat().st_size / 1024:.0f} KiB")
    return code


if __name__ == "__main__":
    sys.exit(main())
