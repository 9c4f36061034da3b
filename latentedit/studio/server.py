"""Starting the studio: offline and local.

- Binds 127.0.0.1 unless told otherwise; a busy port is a one-line error naming a free one.
- No request leaves the machine: Gradio's analytics and version check are off
  (GRADIO_ANALYTICS_ENABLED=False, set before Gradio is imported), the theme uses system fonts
  only, the page is client-rendered from Gradio's bundled assets (no SSR, no CDN), and the run
  history, monitoring, MCP and PWA features are off. tests/test_studio.py checks the browser's
  network log: every request goes to the studio's own address.
- Uploads are limited to `uploads.MAX_BYTES` by the server and decoded by `uploads.read_image`.
"""

from __future__ import annotations

import os
import socket
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError

__all__ = ["StudioConfig", "Server", "check_port", "open_run", "build", "launch"]

OFFLINE_ENV = {"GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1",
               "GRADIO_SSR_MODE": "False", "GRADIO_RUN_HISTORY": "False"}
SYSTEM_FONTS = ["system-ui", "-apple-system", "Segoe UI", "Roboto", "Helvetica", "Arial", "sans-serif"]
MONO_FONTS = ["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace"]
LIVE_METER_MS = 80.0   # the meter follows every slider move when the tagger scores a face faster than this
PREVIEW_MS = 100.0     # --preview auto: a preview while moving when a full decode takes longer, as large as fits this


@dataclass(frozen=True)
class StudioConfig:
    """What `latentedit studio` was asked for.

    meter: "live" (every move), "release" (when the slider is let go) or "auto" (live if the
    tagger takes under LIVE_METER_MS per face). preview: "auto" (a preview while a slider moves when the full
    decode takes over PREVIEW_MS: the largest RGB output that decodes within it, if it shows an edit better than
    the unedited face does), "off", or a resolution in px.
    threads: torch CPU threads (None: torch's default).
    """

    run: Path = Path("runs/demo")
    generator: str | None = None
    tagger: str = "demo"
    method: str = "svd"
    host: str = "127.0.0.1"
    port: int = 7860
    out: Path | None = None
    device: str = "cpu"
    threads: int | None = 1
    meter: str = "auto"
    preview: str = "auto"

    def __post_init__(self):
        if str(self.preview) not in ("auto", "off") and not str(self.preview).isdigit():
            raise InputError(f"--preview must be auto, off or a resolution in px (e.g. 64), got {self.preview!r}")
        if self.meter not in ("live", "release", "auto"):
            raise InputError(f"--meter must be live, release or auto, got {self.meter!r}")
        if not 0 < int(self.port) < 65536:
            raise InputError(f"--port must be between 1 and 65535, got {self.port}")


def _busy(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def check_port(host: str, port: int) -> int:
    """`port` when it is free on `host`; else an InputError naming a free port to try."""
    if not _busy(host, port):
        return port
    for p in list(range(port + 1, min(port + 100, 65536))) + [0]:
        if p == 0:
            with socket.socket() as s:
                s.bind((host, 0))
                p = s.getsockname()[1]
        if not _busy(host, p):
            raise InputError(f"port {port} on {host} is in use; try --port {p}")
    raise InputError(f"port {port} on {host} is in use; choose another --port")


def open_run(config: StudioConfig):
    """The run to edit: `config.run`, or, for the default demo run when it does not exist yet, one
    sampled now from the demo world (64 selfies x 3 styles, seed 0) and tagged."""
    from ..pipeline.sample import sample
    from ..pipeline.tag import ensure_tags
    from ..store import Run

    path = Path(config.run)
    if not (path / "manifest.json").exists():
        if config.generator not in (None, "demo") or path != Path("runs/demo"):
            raise InputError(f"{path} is not a latentedit run (no manifest.json); make one with latentedit sample "
                             f"--out {path}")
        print(f"studio: sampling the demo world into {path} (first start)")
        sample("demo", path)
    run = Run.open(path)
    if config.method not in ("sefa", "pca"):
        ensure_tags(run, config.tagger)
    return run


def _median_ms(fn, repeats: int = 3) -> float:
    """Median wall time of fn() in ms, after one call that is not counted (warm-up)."""
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def _tagger_ms(studio, face) -> float:
    image = studio.unedited(face)[None]
    return _median_ms(lambda: studio.tagger.score(image))


def _decode_ms(studio, face, resolution) -> float:
    import torch

    from ..models.batched import decode

    content, w = studio.face_tensors(face)
    w = torch.from_numpy(w).to(content.device)
    return _median_ms(lambda: decode(studio.G, content, w, 1, resolution=resolution))


def preview_of(config: StudioConfig, studio, face) -> int | None:
    """The preview resolution config.preview asks for (None: none), checked against the generator's RGB outputs."""
    from ..models.layers import rgb_resolutions

    choices = rgb_resolutions(studio.G.layer_names, studio.G.size)[:-1]
    if config.preview == "off" or not choices:
        return None
    if config.preview != "auto":
        if int(config.preview) not in choices:
            raise InputError(f"--preview {config.preview}: this generator's previews are "
                             f"{', '.join(map(str, choices))} px; give one of them, auto or off")
        return int(config.preview)
    if _decode_ms(studio, face, None) <= PREVIEW_MS:
        return None
    r = next((r for r in reversed(choices) if _decode_ms(studio, face, r) <= PREVIEW_MS), choices[0])
    from .core import EditState

    state = EditState(config.method, {studio.specs(config.method)[0].key: 1.0})
    error, stale = studio.preview_error(face, state, r)
    if error >= stale:  # a generator whose RGB skips do not look like its images (trained on the last one only)
        print(f"studio: no preview: this generator's {r} px RGB output does not show edits (pixel error {error:.1f} "
              f"against {stale:.1f} for the unedited face); --preview {r} forces it", flush=True)
        return None
    return r


def build(config: StudioConfig):
    """(studio, page, blocks): the model warmed up (first face rendered, tagger compiled) and the page."""
    for k, v in OFFLINE_ENV.items():
        os.environ.setdefault(k, v)
    from .app import StudioPage
    from .core import Studio

    if config.threads:
        import torch

        torch.set_num_threads(int(config.threads))
    run = open_run(config)
    studio = Studio(run, config.generator, config.tagger, config.device)
    studio.session(config.method)
    out = Path(config.out) if config.out is not None else run.edits_dir / "studio"
    out.mkdir(parents=True, exist_ok=True)
    face = studio.sample_face(int(studio.sample_ids()[0]))
    live = config.meter == "live" or (config.meter == "auto" and _tagger_ms(studio, face) < LIVE_METER_MS)
    page = StudioPage(studio, out, config.method, live_meter=live, preview=preview_of(config, studio, face))
    return studio, page, page.build()


@dataclass
class Server:
    """A running studio: its URL, the page's model, and `close()`."""

    url: str
    studio: object
    page: object
    blocks: object

    def close(self) -> None:
        self.blocks.close()


def launch(config: StudioConfig, block: bool = True) -> Server:
    """Start the studio at http://HOST:PORT/; with `block` serve until interrupted."""
    from .uploads import MAX_BYTES

    check_port(config.host, int(config.port))
    studio, page, blocks = build(config)
    import gradio as gr

    from .app import CSS

    theme = gr.themes.Default(font=SYSTEM_FONTS, font_mono=MONO_FONTS)
    blocks.queue(default_concurrency_limit=1)
    blocks.launch(server_name=config.host, server_port=int(config.port), prevent_thread_lock=True, quiet=True,
                  show_error=False, theme=theme, css=CSS, ssr_mode=False, max_file_size=MAX_BYTES,
                  allowed_paths=[str(page.out.resolve())], footer_links=[], run_history=False,
                  enable_monitoring=False, mcp_server=False, pwa=False, inbrowser=False, share=False)
    server = Server(f"http://{config.host}:{int(config.port)}/", studio, page, blocks)
    if block:
        print(f"studio: {server.url} (Ctrl+C to stop); saving into {page.out}", flush=True)
        try:
            blocks.block_thread()
        except KeyboardInterrupt:
            pass
        finally:
            server.close()
    return server
