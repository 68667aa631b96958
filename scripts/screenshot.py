"""Save docs/screenshot.png: the web UI after a real question, with the cited passage highlighted.

Run from the repository root: `.venv/bin/python scripts/screenshot.py` (needs /usr/bin/chromium).
"""

from __future__ import annotations

import sys
from pathlib import Path

from _browser import app_and_page

QUESTION = "What did the 3T and 7T MRI study find in the amygdala?"


def main() -> int:
    """Ask one question in headless Chromium, click its first citation and save the screenshot."""
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs/screenshot.png")
    out.parent.mkdir(parents=True, exist_ok=True)
    with app_and_page() as page:
        page.fill("#question textarea", QUESTION)
        page.click("#send")
        page.wait_for_selector('#chat a.cite-ref[href="#cite-1-1"]', timeout=30_000)
        page.wait_for_timeout(1500)  # let the stream finish
        page.click('#chat a.cite-ref[href="#cite-1-1"]')
        page.wait_for_timeout(800)  # smooth scroll and highlight
        page.screenshot(path=str(out), full_page=True)
    print(f"saved {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
