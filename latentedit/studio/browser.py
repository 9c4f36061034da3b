"""Driving the studio in a real headless Chromium (Playwright), for its tests and its benchmark.

Uses Debian's chromium (`apt-get install -y chromium`), never a browser Playwright downloads.
`move_slider` measures what a user waits for: from the slider's input event to the new edited
image (or its preview) decoded in the page, and from the slider's release to the full image (the
images travel as data URIs, see app.py).
"""

from __future__ import annotations

import base64
import io
import os
import shutil
from collections import namedtuple
from pathlib import Path

import numpy as np

from ..errors import InputError

__all__ = ["CHROMIUM_ARGS", "Move", "chromium_path", "launch_chromium", "open_page", "move_slider", "shown_image",
           "meter_rows", "wait_status"]

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]

# Set a slider's range input, wait for the edited image it brings (a preview or the full image), then let go of
# the slider (pointerup: Gradio's `release`) and wait for the full image; resolves with [ms from input to the
# first new image, its kind, ms from release to the full image, ms from input to the meter changed].
MOVE_JS = """async ([id, value, release, meter, meterTimeout, timeout]) => {
  const after = () => document.querySelector('#face-after');
  const seq = () => after() ? after().dataset.seq : null;
  const table = () => document.querySelector('#meter');
  const meterBefore = table() ? table().innerHTML : null;
  const input = document.querySelector('#' + id + ' input[type=range]');
  if (!input) throw new Error('no slider ' + id);
  const shown = (since, kind) => new Promise((resolve, reject) => {
    const t0 = performance.now();
    let found = false;
    const check = async () => {
      const img = after();
      if (found || !img || img.dataset.seq === since || (kind && img.dataset.kind !== kind)) return;
      found = true;
      obs.disconnect();
      await img.decode();
      resolve([performance.now() - t0, img.dataset.kind]);
    };
    const obs = new MutationObserver(check);
    obs.observe(document.body, {subtree: true, childList: true, attributes: true, characterData: true});
    setTimeout(() => { obs.disconnect(); reject(new Error('no new ' + (kind || '') + ' image shown')); }, timeout);
  });
  const t0 = performance.now();
  let wait = shown(seq(), null);
  input.value = String(value);
  input.dispatchEvent(new Event('input', {bubbles: true}));
  const [first, kind] = await wait;
  let full = null;
  if (release) {
    wait = shown(seq(), 'full');
    input.dispatchEvent(new PointerEvent('pointerup', {bubbles: true}));
    full = (await wait)[0];
  }
  let m = null;
  if (meter) {
    const changed = () => table() && table().innerHTML !== meterBefore && !table().textContent.includes('release the');
    const until = performance.now() + meterTimeout;
    while (!changed() && performance.now() < until) await new Promise((r) => setTimeout(r, 5));
    if (changed()) m = performance.now() - t0;
  }
  return [first, kind, full, m];
}"""

Move = namedtuple("Move", "shown_ms kind full_ms meter_ms")
Move.__doc__ = """One slider move: ms from its input event to the first new edited image decoded in the page, that
image's kind ("preview" or "full"), ms from the release to the full image (None without release), ms from the
input event to the meter changed (None when not asked or not within the meter timeout)."""


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


def move_slider(page, slider_id: str, value: float, meter: bool = False, release: bool = True,
                meter_timeout_ms: float = 3000, timeout_ms: float = 120_000) -> Move:
    """Move a slider (its DOM id, app.slider_id) to `value` and, with `release`, let go of it (see `Move`)."""
    return Move(*page.evaluate(MOVE_JS, [slider_id, float(value), bool(release), bool(meter), float(meter_timeout_ms),
                                         float(timeout_ms)]))


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
