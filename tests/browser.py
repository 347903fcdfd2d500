"""Open a page in headless Chromium: its screenshot and what its console said."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
CONSOLE_LINE = re.compile(r":CONSOLE[^\]]*\]\s*(?P<message>.*)")
#: src, href or CSS url() pointing anywhere but into the page itself.
EXTERNAL_REFERENCE = re.compile(
    r"""(?:\b(?:src|href)\s*=\s*["']?|url\(\s*["']?)(?:https?:|//|file:)""",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class PageView:
    screenshot: Path
    console: list[str]  # every console message the page produced


def chromium() -> str:
    """The Chromium executable; the calling test is skipped when there is none."""
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("headless Chromium is not installed (apt-get install chromium)")


def view(
    page: Path, screenshot: Path, *, width: int = 1100, height: int = 1600
) -> PageView:
    """Render `page` headless, save a screenshot, and collect console messages."""
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        finished = subprocess.run(
            [
                chromium(),
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
                f"--user-data-dir={profile}",
                f"--window-size={width},{height}",
                f"--screenshot={screenshot}",
                "--enable-logging=stderr",
                "--v=0",
                page.resolve().as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    if not screenshot.is_file():
        raise AssertionError(f"Chromium wrote no screenshot:\n{finished.stderr}")
    console = [
        found.group("message")
        for found in map(CONSOLE_LINE.search, finished.stderr.splitlines())
        if found
    ]
    return PageView(screenshot=screenshot, console=console)


def external_references(html: str) -> list[str]:
    """Every place where `html` would load or link something outside itself."""
    return [found.group() for found in EXTERNAL_REFERENCE.finditer(html)]
