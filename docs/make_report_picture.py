"""Regenerate docs/report-60-atoms.png, the README's picture of an HTML report.

The report is that of ``examples/test_amphora_resilience.py::test_build_failure_is_not_retried``
(Octavia's 59-atom ACTIVE_STANDBY flow, one build failure, everything reverted), laid out
at 1,600 px by headless Chromium and pictured at 3/4 scale. From the repository root::

    python docs/make_report_picture.py
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).parent.parent
PICTURE = ROOT / "docs" / "report-60-atoms.png"
TEST = "examples/test_amphora_resilience.py::test_build_failure_is_not_retried"
BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def main() -> int:
    browser = next((found for name in BROWSERS if (found := shutil.which(name))), None)
    if browser is None:
        print(f"none of {', '.join(BROWSERS)} is on PATH (Debian: apt-get install chromium)")
        return 1
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "report.html"
        subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", TEST,
             "--flowfault-seed=1", f"--flowfault-report={report}"],
            cwd=ROOT, check=True,
        )
        # 1,600 x 2,600 CSS px (the graph and the timeline down to the retry decision),
        # drawn at 3/4 scale: 1,200 x 1,950 pixels, about 300 KB.
        subprocess.run(
            [browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             "--no-first-run", f"--user-data-dir={Path(scratch) / 'profile'}",
             "--force-device-scale-factor=0.75", "--window-size=1600,2600",
             f"--screenshot={PICTURE}", report.as_uri()],
            check=True, capture_output=True,
        )
    print(f"{PICTURE.relative_to(ROOT)}: {PICTURE.stat().st_size // 1024} KB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
