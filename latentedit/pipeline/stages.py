"""`Stages`: time every stage of a long job and record a failing one instead of stopping the job."""

from __future__ import annotations

import time
import traceback
from contextlib import contextmanager

from ..errors import LatentEditError


class Stages:
    """Times every stage and records failures instead of stopping the report."""

    def __init__(self, bar=None):
        self.status: dict = {}
        self.bar = bar

    @contextmanager
    def __call__(self, name: str):
        if self.bar is not None:
            self.bar.set_description(f"report: {name}")
        start, cpu = time.time(), time.process_time()
        try:
            yield
        except Exception as e:  # noqa: BLE001 - a report keeps what it has and marks the rest
            message = str(e).strip().splitlines()[0] if str(e).strip() else ""
            self.status[name] = {"status": "failed", "error": f"{type(e).__name__}: {message}"[:500]}
            if not isinstance(e, LatentEditError):
                self.status[name]["traceback"] = traceback.format_exc(limit=6)
        else:
            self.status[name] = {"status": "ok"}
        finally:
            self.status.setdefault(name, {"status": "interrupted"}).update(
                seconds=round(time.time() - start, 2), cpu_seconds=round(time.process_time() - cpu, 2))
            if self.bar is not None:
                self.bar.update(1)

    def skip(self, name: str, reason: str) -> None:
        self.status[name] = {"status": "skipped", "seconds": 0.0, "cpu_seconds": 0.0, "error": reason}
        if self.bar is not None:
            self.bar.update(1)

    def ok(self, name: str) -> bool:
        return self.status.get(name, {}).get("status") == "ok"
