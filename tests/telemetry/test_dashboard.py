"""The dashboard in a real headless Chromium: the charts draw from the canned queries with no
network beyond 127.0.0.1, and a screenshot shows them (issue 6)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from batty.telemetry import synth
from tests.telemetry.helpers import make_repo, write
from tests.telemetry.png import count_colour

BAR_BLUE = (0x2B, 0x6C, 0xB0)  # dashboard.js COLORS[0]
HEAL_ORANGE = (0xDD, 0x6B, 0x20)  # COLORS[1]


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.fail("chromium is missing: run tests/telemetry/ensure_chromium.sh (as root)")
    return found


def browse(url: str, profile: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    argv = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--disable-dev-shm-usage", f"--user-data-dir={profile}",
            # nothing resolves but the local server: a page that needs a CDN cannot draw
            "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
            "--virtual-time-budget=15000", "--window-size=1280,1100", *extra, url]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120)


def test_the_dashboard_draws_its_charts_offline(tmp_path: Path, serve) -> None:  # type: ignore[no-untyped-def]
    root = make_repo(tmp_path / "r", zone="Europe/Paris")
    write(root / ".batty" / "events.jsonl", list(synth.run(3000, gap_s=(1800, 5400))))
    server = serve(root)

    dom = browse(server.url + "/dashboard", tmp_path / "p1", "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    assert 'data-charts-drawn="8"' in html, html[-3000:]
    assert "data-error" not in html
    # issue 18: spend per day with the burn rate, per seat, per task
    for chart in ("chart-daily", "chart-seats", "chart-health", "chart-confidence",
                  "chart-spend-day", "chart-spend-seat", "chart-spend-task"):
        section = re.search(rf'<section[^>]*id="{chart}".*?</section>', html, re.S)
        assert section, chart
        assert re.search(r'<svg[^>]*class="batty-chart"', section.group(0)), chart
        marks = len(re.findall(r'<(?:rect|circle) [^>]*class="(?:bar|point)"', section.group(0)))
        assert marks >= 3, (chart, marks)
    tiles = dict(re.findall(r'data-figure="(\w+)"[^>]*><span class="n">([^<]+)<', html))
    assert tiles["tasks_completed"] not in ("…", "?", "-") and tiles["success_rate"].endswith("%")

    shot = tmp_path / "dashboard.png"
    res = browse(server.url + "/dashboard", tmp_path / "p2", f"--screenshot={shot}")
    assert res.returncode == 0 and shot.exists(), res.stderr[-2000:]
    # the bars are really painted: thousands of pixels in each chart colour
    assert count_colour(shot, BAR_BLUE) > 5000
    assert count_colour(shot, HEAL_ORANGE) > 500
