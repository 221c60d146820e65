"""Make the dashboard screenshot shown in the README: a small search, optuna-dashboard, headless Chromium.

Run: python examples/dashboard_screenshot.py [--chromium /usr/bin/chromium] [--out examples/dashboard_trial.png]
Needs Chromium (Debian: apt-get install chromium).
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "dashboard_trial.png")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as runs:
        cli = [sys.executable, "-c", "from automm.cli import app; app()"]
        subprocess.run(
            [*cli, "search", "--runs-dir", runs, "--population", "6", "--generations", "3", "-q"], check=True
        )
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        server = subprocess.Popen([*cli, "dashboard", "--runs-dir", runs, "--port", str(port)])
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(100):
                try:
                    with urllib.request.urlopen(base + "/api/studies", timeout=5) as r:
                        study_id = json.loads(r.read())["study_summaries"][0]["study_id"]
                    break
                except OSError:
                    time.sleep(0.2)
            url = f"{base}/dashboard/studies/{study_id}/trials"
            with tempfile.TemporaryDirectory() as profile:
                subprocess.run(
                    [
                        args.chromium,
                        "--headless",
                        "--no-sandbox",
                        "--disable-gpu",
                        "--disable-quic",
                        "--no-first-run",
                        "--disable-background-networking",
                        "--disable-component-update",
                        "--disable-sync",
                        f"--user-data-dir={profile}",
                        "--window-size=1400,1800",
                        "--virtual-time-budget=8000",
                        f"--screenshot={args.out}",
                        url,
                    ],
                    check=True,
                    capture_output=True,
                )
        finally:
            server.terminate()
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
