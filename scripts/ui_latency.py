"""Measure how fast the first words of an answer appear in the browser.

For each question: the time from the click on "Ask" to the first answer text in the chat (the
"Searching…" placeholder does not count), measured in the page with performance.now(). Prints each
time and the median. Run from the repository root: `.venv/bin/python scripts/ui_latency.py`.
"""

from __future__ import annotations

import statistics

from _browser import app_and_page

QUESTIONS = [
    "How many healthy controls were in the magnetization transfer study?",
    "What did the 3T and 7T MRI study find in the amygdala?",
    "What dose of ketamine was used in the PET study?",
    "What did the fMRI study of brain networks show?",
    "How quickly does ketamine reduce depression?",
]

# Record the click time, then the first moment the newest bot message holds answer text.
INSTRUMENT = """
n => new Promise(resolve => {
  let clicked = null;
  document.querySelector('#send').addEventListener('click', () => { clicked = performance.now(); },
                                                   {capture: true, once: true});
  const observer = new MutationObserver(() => {
    const bots = document.querySelectorAll('#chat [data-testid="bot"]');
    if (clicked === null || bots.length < n) return;
    const text = bots[n - 1].innerText.trim();
    if (text && !text.startsWith('Searching the documents')) {
      observer.disconnect();
      resolve(performance.now() - clicked);
    }
  });
  observer.observe(document.querySelector('#chat'), {subtree: true, childList: true, characterData: true});
  window.__ready = true;
})
"""


def main() -> int:
    """Ask each question once in a fresh conversation and print the first-answer-text latencies."""
    times: list[float] = []
    with app_and_page() as page:
        for question in QUESTIONS:
            page.click("#clear")
            page.wait_for_function("document.querySelectorAll('#chat [data-testid=bot]').length === 0")
            page.fill("#question textarea", question)
            page.evaluate("window.__ready = false; window.__latency = null")
            # Not awaited: evaluate() would wait on a returned promise, which only settles after the click.
            page.evaluate(f"() => {{ ({INSTRUMENT})(1).then(ms => {{ window.__latency = ms; }}); }}")
            page.wait_for_function("window.__ready === true")
            page.click("#send")
            page.wait_for_function("window.__latency !== null", timeout=30_000)
            ms = float(page.evaluate("window.__latency"))
            times.append(ms)
            print(f"{ms:7.0f} ms  {question}", flush=True)
            page.wait_for_timeout(1500)  # let the stream finish before the next question
    print(f"median time to first answer text: {statistics.median(times):.0f} ms over {len(times)} questions")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
