"""Shared by the UI scripts: start the web UI on a free loopback port and open headless Chromium."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from assistant.pipeline import Assistant
from assistant.settings import Settings
from assistant.ui import build_app, launch, warm_up

CHROMIUM = "/usr/bin/chromium"  # Debian's package; `playwright install` is never used
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    """Return a port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def app_and_page(width: int = 1400, height: int = 900) -> Iterator[Any]:
    """Serve the UI over the configured corpus (ASSISTANT_* settings) and yield a loaded page."""
    from playwright.sync_api import sync_playwright

    assistant = Assistant(Settings())
    warm_up(assistant)
    demo = build_app(assistant)
    url = launch(demo, port=free_port(), block=False)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": width, "height": height})
            page.goto(url)
            page.wait_for_selector("#question textarea")
            page.wait_for_function("(document.querySelector('#index-status')?.innerText || '').includes('documents')")
            yield page
            browser.close()
    finally:
        demo.close()
