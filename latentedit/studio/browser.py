"""Driving the studio in a real headless Chromium (Playwright), for its tests and its benchmark.

Uses Debian's chromium (`apt-get install -y chromium`), never a browser Playwright downloads.
`move_slider` measures what a user waits for: from the slider's input event to the new edited
image decoded in the page (the image travels as a data URI, see app.py).
"""

from __future__ import annotations

import base64
import io
import os
import shutil
from pathlib import Path

import numpy as np

from ..errors import InputError

__all__ = ["CHROMIUM_ARGS", "chromium_path", "launch_chromium", "open_page", "move_slider", "shown_image",
           "meter_rows", "wait_status"]

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]

# Set a slider's range input and resolve, once the edited image has changed and decoded, with the
# milliseconds that took (and the meter's, when asked to wait for it too).
MOVE_JS = """async ([id, value, meter, meterTimeout]) => {
  const after = () => document.querySelector('#face-after');
  const table = () => document.querySelector('#meter');
  const before = after() ? after().src : null;
  const meterBefore = table() ? table().innerHTML : null;
  const input = document.querySelector('#' + id + ' input[type=range]');
  if (!input) throw new Error('no slider ' + id);
  const t0 = performance.now();
  const shown = new Promise((resolve) => {
    let image = null;
    const done = (m) => { obs.disconnect(); resolve([image, m]); };
    const check = async () => {
      const img = after();
      if (image === null && img && img.src !== before) {
        await img.decode();
        image = performance.now() - t0;
        if (meter) setTimeout(() => done(null), meterTimeout);
      }
      const m = table();
      if (image !== null && (!meter || (m && m.innerHTML !== meterBefore))) done(performance.now() - t0);
    };
    const obs = new MutationObserver(check);
    obs.observe(document.body, {subtree: true, childList: true, attributes: true, characterData: true});
  });
  input.value = String(value);
  input.dispatchEvent(new Event('input', {bubbles: true}));
  return await shown;
}"""


def chromium_path() -> str:
    """Debian's chromium ($LATENTEDIT_CHROMIUM, /usr/bin/chromium or chromium on PATH)."""
    for p in (os.environ.get("LATENTEDIT_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium")):
        if p and Path(p).is_file():
            return str(p)
    raise InputError("no chromium found; install Debian's: apt-get install -y chromium")


def launch_chromium(playwright):
    """A headless Chromium from Debian's package, no network extras, no sandbox (root in CI)."""
    return playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True)


def open_page(browser, url: str, width: int = 1500, height: int = 1100, timeout_ms: float = 120_000):
    """(page, requests): the studio loaded with its first face shown; `requests` collects every URL
    the page asks for from then on (the offline check reads it)."""
    page = browser.new_page(viewport={"width": width, "height": height})
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(url)
    page.wait_for_selector("#face-after", timeout=timeout_ms)
    return page, requests


def move_slider(page, slider_id: str, value: float, meter: bool = False,
                meter_timeout_ms: float = 3000) -> tuple[float, float | None]:
    """Move a slider (its DOM id, app.slider_id) to `value`: (ms until the new image is shown, ms until
    the meter changed too; None when it did not within `meter_timeout_ms` after the image, e.g. a meter
    that waits for the slider's release; the image's time when `meter` is False)."""
    image_ms, all_ms = page.evaluate(MOVE_JS, [slider_id, float(value), bool(meter), float(meter_timeout_ms)])
    return float(image_ms), (None if all_ms is None else float(all_ms))


def shown_image(page, which: str = "after") -> np.ndarray:
    """The uint8 (H, W, 3) pixels of the shown unedited ("before") or edited ("after") face."""
    from PIL import Image

    src = page.get_attribute(f"#face-{which}", "src")
    head, data = src.split(",", 1)
    if not head.startswith("data:image/png;base64"):
        raise ValueError(f"the {which} face is not a PNG data URI: {head[:40]}")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB"))


def meter_rows(page) -> list[tuple[str, float, float]]:
    """The side-effect meter's rows: (tag, unedited score, edited score)."""
    rows = page.eval_on_selector_all("#meter tr[data-tag]", "rs => rs.map(r => [r.dataset.tag, r.dataset.before, "
                                     "r.dataset.after])")
    return [(t, float(b), float(a)) for t, b, a in rows]


def wait_status(page, text: str, timeout_ms: float = 60_000) -> str:
    """Wait until the page's message line contains `text`; return the line."""
    page.wait_for_function("t => { const s = document.querySelector('#status'); return s && "
                           "s.textContent.includes(t); }", arg=text, timeout=timeout_ms)
    return page.text_content("#status")
