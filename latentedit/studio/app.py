"""The studio's page: Gradio Blocks over a `Studio` (see core.py for what each action does).

Layout: the face (run gallery, random style, uploads) | the result (unedited and edited face, the
side-effect meter, messages) | the edit (method, space, layers, keep, automatic keep and layers, hold,
sliders by group) | keep what you made (recipe JSON, PNG with its recipe, load, sweep GIF/MP4).

Images travel inside the page as PNG data URIs in an HTML component, not as files the browser
fetches afterwards, and slider moves bypass Gradio's queue: one HTTP round trip per move. Every
handler turns a LatentEditError into a message in the page (`#status`) and any other exception
into a logged "internal error" message, so a bad upload or recipe never stops the server.
User-supplied strings are HTML-escaped. Import this module only after `server.OFFLINE_ENV` is set
(it imports Gradio, which reads its analytics switch at import).
"""

from __future__ import annotations

import base64
import functools
import html
import io
import itertools
import logging
import traceback
from collections import namedtuple
from pathlib import Path

import gradio as gr
import numpy as np
from PIL import Image

from ..errors import LatentEditError
from . import sliders as sl
from .sliders import slider_id
from .core import COMPONENT_METHODS, LAYER_CHOICES, METHODS, SPACES, EditState, Studio
from .export import FORMATS, upscale, write_animation
from .recipes import file_name, load_recipe, save_png, save_recipe
from .uploads import MAX_BYTES, read_image

log = logging.getLogger(__name__)

__all__ = ["SLIDER_MAX", "MAX_COMPONENTS", "StudioPage", "data_uri"]

SLIDER_MAX = 2.0         # sliders go from -2 to +2 default edits
SLIDER_STEP = 0.05
MAX_COMPONENTS = 24      # SeFa/PCA component sliders (the first ones of a set)
GALLERY = 48             # run samples in the gallery
METER_ROWS = 8

CSS = """
.face img {image-rendering: pixelated; width: 100%; max-width: 300px; height: auto; border-radius: 6px;}
.face img.preview {image-rendering: auto;}  /* a low-resolution preview, smoothly upsampled by the browser */
.face {margin: 0; text-align: center;}
.face figcaption {font-size: 0.85em; opacity: 0.75;}
#meter table {width: 100%; border-collapse: collapse; font-size: 0.9em;}
#meter td, #meter th {padding: 2px 6px; text-align: left;}
#meter .bar {display: inline-block; height: 0.7em; background: #8aa4d6; vertical-align: middle;}
#meter .bar.after {background: #e0894f;}
#meter tr.flip td {font-weight: 600; color: #b3261e;}
#status .error {color: #b3261e; font-weight: 600;}
#status .note {opacity: 0.8;}
#result-col {position: sticky; top: 8px; align-self: flex-start;}
.gradio-container {overflow: visible !important;}  /* a hidden overflow would stop the sticky result column */
"""


def data_uri(image: np.ndarray) -> str:
    """A uint8 image as a PNG data URI (fast compression: this is for display only)."""
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG", compress_level=1)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


_SHOWN = itertools.count()  # each face shown gets a new data-seq, so the page can tell a re-render of the same image


def face_html(image: np.ndarray, which: str, caption: str, preview: bool = False) -> str:
    """One face as a native-size PNG (the page scales it up, without blur; smoothly for a `preview`):
    id face-before/face-after, data-kind "preview" or "full"."""
    kind = "preview" if preview else "full"
    return (f'<figure class="face"><img id="face-{which}" class="{kind}" data-kind="{kind}" data-seq="{next(_SHOWN)}" '
            f'alt="{which} face" src="{data_uri(image)}"><figcaption>{html.escape(caption)}</figcaption></figure>')


def meter_html(rows) -> str:
    """The side-effect meter: other tags' scores before -> after, largest change first (None: not
    measured for this move, the meter follows on release)."""
    if rows is None:
        return '<div id="meter"><p class="note">side effects: release the slider to measure</p></div>'
    lines = []
    for r in rows[:METER_ROWS]:
        cls = ' class="flip"' if r.flipped else ""
        lines.append(
            f'<tr{cls} data-tag="{html.escape(r.tag)}" data-before="{r.before:.4f}" data-after="{r.after:.4f}">'
            f"<td>{html.escape(r.tag)}</td>"
            f'<td><span class="bar" style="width:{60 * r.before:.0f}px"></span> {r.before:.2f}</td>'
            f'<td><span class="bar after" style="width:{60 * r.after:.0f}px"></span> {r.after:.2f}</td>'
            f"<td>{r.change:+.2f}</td></tr>")
    rest = len(rows) - METER_ROWS
    more = f'<p class="note">{rest} more tags moved less</p>' if rest > 0 else ""
    return ('<div id="meter"><b>Side effects</b> (tagger scores of the other tags, unedited &rarr; edited; '
            'bold: crossed 0.5)<table><tr><th>tag</th><th>unedited</th><th>edited</th><th>change</th></tr>'
            + "".join(lines) + "</table>" + more + "</div>")


def status_html(text: str = "", kind: str = "note") -> str:
    """The page's message line (#status): what the last action did, or why it could not."""
    return f'<div id="status"><p class="{kind}">{html.escape(text)}</p></div>'


def timing_html(text: str) -> str:
    """Server-side timings of the last render (#timing)."""
    return f'<div id="timing"><p class="note">{html.escape(text)}</p></div>'


RENDER = dict(show_progress="hidden", concurrency_id="render", concurrency_limit=1)  # queued renders, one at a time

# The page's panels, as StudioPage's panel methods return them (picker_column, ...) and keep them (.picker, ...).
Picker = namedtuple("Picker", "gallery ids seed creativity use_seed next_seed selfie reference")  # ids: the gallery's
Result = namedtuple("Result", "before after meter status timing")
EditControls = namedtuple("EditControls", "method space layers lo hi keep auto_keep auto_layers auto hold reset")
Sliders = namedtuple("Sliders", "all groups")  # all: the tag sliders, then the component slots; groups: accordions
Recipes = namedtuple("Recipes", "save_json save_png saved load")
Sweep = namedtuple("Sweep", "key lo hi n fmt export exported")


class StudioPage:
    """Builds the Gradio Blocks of the studio over `studio`; files are saved into `out`.

    live_meter: measure side effects at every slider move (else on release only). preview: while a slider moves,
    show the generator's RGB output at this resolution (px; the full image and the meter follow on release);
    None: full renders while moving. `build` makes the page (once): then its panels are attributes (picker,
    result, edit, sliders, recipes, sweep; face, held: gr.State).
    """

    def __init__(self, studio: Studio, out, method: str = "svd", live_meter: bool = True, preview: int | None = None):
        self.studio = studio
        self.out = Path(out)
        self.method = method
        self.live_meter = live_meter and preview is None
        self.preview = preview
        self.tag_specs = studio.specs(method if method not in COMPONENT_METHODS else "svd")
        self.n_layers = len(studio.G.layer_names)

    controls = property(lambda self: [self.edit.method, self.edit.space, self.edit.layers, self.edit.lo, self.edit.hi,
                                      self.edit.keep, self.held, *self.sliders.all])  # what `state` reads, in order
    inputs = property(lambda self: [self.face, *self.controls])  # what a render reads
    moved = property(lambda self: [self.result.after, self.result.meter, self.result.timing, self.result.status])
    shown = property(lambda self: [self.result.before, *self.moved])  # on_rest's outputs (on_move's: moved)

    # -- controls <-> state ---------------------------------------------------------------------
    def state(self, method, space, layers, lo, hi, keep, held, *values) -> EditState:
        n = len(self.tag_specs)
        vals = {s.key: float(v or 0) for s, v in zip(self.tag_specs, values[:n])}
        if method in COMPONENT_METHODS:
            specs = self.studio.specs(method)[:MAX_COMPONENTS]
            vals.update({s.key: float(v or 0) for s, v in zip(specs, values[n:])})
        return EditState(method, vals, layers, (int(lo), int(hi)), tuple(keep or ()), held or None, space=space or "w")

    def slider_values(self, state: EditState) -> list[float]:
        """Slider positions for a state: tag sliders, then component slots."""
        out = [float(state.values.get(s.key, 0.0)) for s in self.tag_specs]
        comps = self.studio.specs(state.method)[:MAX_COMPONENTS] if state.method in COMPONENT_METHODS else []
        out += [float(state.values.get(comps[k].key, 0.0)) if k < len(comps) else 0.0 for k in range(MAX_COMPONENTS)]
        return out

    # -- handlers ----------------------------------------------------------------------------------
    def _guard(self, fn, outputs: list):
        """Run fn; on failure leave every output as it is but #status (the last one): the message."""
        @functools.wraps(fn)  # keeps fn's signature: Gradio passes event data by annotation
        def wrapped(*args):
            try:
                return fn(*args)
            except LatentEditError as e:
                msg = str(e)
            except Exception as e:  # the server stays up whatever a handler hits
                log.error("studio handler failed:\n%s", traceback.format_exc())
                msg = f"internal error ({type(e).__name__}: {e}); the studio is still running"
            return {outputs[-1]: status_html(msg, "error")}

        return wrapped

    def _render(self, face, *controls, meter=True, preview=None):
        state = self.state(*controls)
        frame = self.studio.render(face, state, meter=meter, preview=preview)
        where = f" in {state.space}" if state.space != "w" else ""
        caption = "edited" if frame.edit is None else f"edited ({state.method}{where}{', held' if frame.held else ''})"
        size = frame.image.shape[0]
        small = size < frame.before.shape[0]
        caption += f" - preview {size} px" if small else ""
        note = (f"{'preview' if small else 'render'} {size} px {frame.render_ms:.0f} ms"
                + (f", meter {frame.meter_ms:.0f} ms" if meter else ""))
        if meter and frame.edit is None:
            meter_out = '<div id="meter"><p class="note">side effects: move a slider to edit the face</p></div>'
        else:
            meter_out = meter_html(frame.meter if meter else None)
        return frame, face_html(frame.image, "after", caption, small), meter_out, timing_html(note), gr.update()

    def on_move(self, face, *controls):
        """A slider moved: the edited face, or its preview (and the meter when it is live); the unedited one
        and messages stay."""
        return self._render(face, *controls, meter=self.live_meter, preview=self.preview)[1:]

    def on_rest(self, face, *controls):
        """Anything else changed, or a slider was let go: both faces and the meter."""
        frame, *shown = self._render(face, *controls, meter=True)
        return (face_html(frame.before, "before", "unedited"), *shown)

    def method_ui(self, method, space: str = "w", state: EditState | None = None) -> dict:
        """Updates for a method and space: the sliders (visibility, component slots' labels; values from
        `state`, else the component slots reset to 0), their groups, keep (state's tags), sweep choices."""
        specs = self.studio.specs(method, space)
        keys = {s.key for s in specs}
        comps = specs[:MAX_COMPONENTS] if method in COMPONENT_METHODS else []
        updates = ([gr.update(visible=s.key in keys) for s in self.tag_specs]
                   + [gr.update(visible=True, label=c.label) for c in comps]
                   + [gr.update(visible=False) for _ in range(MAX_COMPONENTS - len(comps))])
        values = self.slider_values(state) if state else [None] * len(self.tag_specs) + [0.0] * MAX_COMPONENTS
        updates = [u if v is None else {**u, "value": v} for u, v in zip(updates, values)]
        groups = [gr.update(visible=any(s.group == g and s.key in keys for s in self.tag_specs + comps))
                  for g in sl.GROUPS]
        sweep = [(s.label, s.key) for s in specs[:MAX_COMPONENTS] if s.key in keys]
        keep = gr.update(choices=self.studio.keep_choices(method, space), value=list(state.keep) if state else [],
                         visible=method not in COMPONENT_METHODS)
        return {**dict(zip(self.sliders.all, updates)), **dict(zip(self.sliders.groups, groups)), self.edit.keep: keep,
                self.sweep.key: gr.update(choices=sweep, value=sweep[0][1] if sweep else None)}

    def layer_ui(self, state: EditState) -> dict:
        """Updates for the layers choice and the first and last layer sliders (shown for a range)."""
        ranged = state.layers == "range"
        lo, hi = state.layer_range if ranged else (0, self.n_layers - 1)
        return {self.edit.layers: state.layers, self.edit.lo: gr.update(value=lo, visible=ranged),
                self.edit.hi: gr.update(value=hi, visible=ranged)}

    # -- the page: a method per panel building its components in page order, one per panel wiring them --
    def build(self):
        st, ids = self.studio, [int(i) for i in self.studio.sample_ids()[:GALLERY]]
        with gr.Blocks(title="latentedit studio", analytics_enabled=False) as demo:
            self.face, self.held = gr.State(st.sample_face(ids[0])), gr.State(None)
            gr.HTML(f"<h2>latentedit studio</h2><p>run <code>{html.escape(str(st.run.path))}</code>, generator "
                    f"<code>{html.escape(st.fingerprint)}</code> ({st.G.size} px, {self.n_layers} W+ layers)</p>")
            with gr.Row():
                self.picker, self.result = self.picker_column(ids), self.result_column()
                with gr.Column(scale=4, min_width=320):
                    gr.Markdown("### Edit")
                    self.edit, self.sliders = self.edit_controls(), self.slider_groups()
            self.recipes, self.sweep = self.keep_row()
            for wire in (self.wire_edit, self.wire_picker, self.wire_keep):  # in this order: the events' ids
                wire()
            demo.load(self._guard(self.on_rest, self.shown), self.inputs, self.shown)
        return demo

    def _on(self, event, fn, inputs, outputs, rest: bool = True, guard: bool = True, **kw):
        """Listen to `event` with fn (guarded, see _guard); with `rest`, then render both faces and the meter."""
        listener = event(self._guard(fn, outputs) if guard else fn, inputs, outputs, **kw)
        if rest:
            listener.then(self._guard(self.on_rest, self.shown), self.inputs, self.shown, **RENDER)

    def picker_column(self, ids) -> Picker:
        with gr.Column(scale=3, min_width=280):
            gr.Markdown("### Face")
            with gr.Tabs():
                with gr.Tab("Samples"):
                    images = upscale(self.studio.run.images(ids), 96)
                    gallery = gr.Gallery(value=[(im, f"{i}") for im, i in zip(images, ids)], columns=4,
                                         allow_preview=False, show_label=False, height=360, elem_id="gallery",
                                         object_fit="contain")
                with gr.Tab("Random"):
                    seed = gr.Number(value=0, precision=0, minimum=0, label="style seed", elem_id="seed")
                    creativity = gr.Slider(0.0, 1.0, value=1.0, step=0.05, elem_id="creativity",
                                           label="creativity (1: as sampled, 0: the mean style)")
                    with gr.Row():
                        use_seed = gr.Button("Use this style", elem_id="use-seed")
                        next_seed = gr.Button("Next seed", elem_id="next-seed")
                with gr.Tab("Upload"):
                    selfie = gr.File(label=f"selfie (its content; <= {MAX_BYTES // 2**20} MiB)", type="filepath",
                                     elem_id="selfie", visible=self.studio.G.takes_content)
                    reference = gr.File(label="anime reference (its style)", type="filepath", elem_id="reference")
        return Picker(gallery, ids, seed, creativity, use_seed, next_seed, selfie, reference)

    def wire_picker(self):
        st, pk, ids, face, status = self.studio, self.picker, self.picker.ids, self.face, self.result.status

        def pick_face(evt: gr.SelectData):
            return st.check_face(st.sample_face(ids[int(evt.index)])), status_html(f"sample {ids[int(evt.index)]}")

        def use_style(f, s, t):
            return st.check_face(st.seed_face(f, int(s or 0), float(t))), status_html(f"style seed {int(s or 0)}")

        def next_style(f, s, t):
            s = int(s or 0) + 1
            return st.check_face(st.seed_face(f, s, float(t))), s, status_html(f"style seed {s}")

        def upload(box, what, make):
            """Wire an upload box: make(face, upload, path) is the new face; a refused file is cleared from the box."""
            def handler(f, path):
                if not path:
                    return {status: status_html("")}
                try:
                    up = read_image(path)
                    return {face: make(f, up, path), status: status_html(f"{what} {up.name}")}
                except LatentEditError as e:
                    return {box: None, status: status_html(str(e), "error")}
            self._on(box.upload, handler, [face, box], [face, box, status])

        self._on(pk.gallery.select, pick_face, None, [face, status])
        style = [face, pk.seed, pk.creativity]
        self._on(pk.use_seed.click, use_style, style, [face, status])
        self._on(pk.next_seed.click, next_style, style, [face, pk.seed, status])
        self._on(pk.creativity.release, use_style, style, [face, status])
        upload(pk.selfie, "content: selfie", lambda f, up, path: st.selfie_face(f, up))
        upload(pk.reference, "style: reference", lambda f, up, path: st.check_face(st.reference_face(f, path)))

    def result_column(self) -> Result:
        with gr.Column(scale=4, min_width=320, elem_id="result-col"):
            gr.Markdown("### Result")
            with gr.Row():
                before, after = gr.HTML(elem_id="before-box"), gr.HTML(elem_id="after-box")
            return Result(before, after, gr.HTML(elem_id="meter-box"), gr.HTML(status_html(""), elem_id="status-box"),
                          gr.HTML(timing_html(""), elem_id="timing-box"))

    def edit_controls(self) -> EditControls:
        last = self.n_layers - 1
        with gr.Row():
            method = gr.Dropdown(list(METHODS), value=self.method, label="directions", elem_id="method")
            space = gr.Radio(list(SPACES), value="w", elem_id="space",
                             label="space (z: the style code before the mapping network)")
        layers = gr.Radio(list(LAYER_CHOICES), value="all", elem_id="layers",
                          label="W+ layers (all: every layer, a plain edit)")
        with gr.Row():
            lo = gr.Slider(0, last, value=0, step=1, label="first layer", visible=False, elem_id="layer-lo")
            hi = gr.Slider(0, last, value=last, step=1, label="last layer", visible=False, elem_id="layer-hi")
        with gr.Accordion("keep unchanged", open=False, elem_id="keep-box"):
            keep = gr.CheckboxGroup(self.studio.keep_choices(self.method), value=[], elem_id="keep",
                                    label="project these tags' directions out of the edit",
                                    visible=self.method not in COMPONENT_METHODS)
        with gr.Accordion("automatic keep and layers (measured on the run's samples)", open=False, elem_id="auto-box"):
            with gr.Row():
                auto_keep = gr.Checkbox(True, label="keep the tags the edit moves", elem_id="auto-keep")
                auto_layers = gr.Checkbox(True, label="W+ layers with the least side effect", elem_id="auto-layers")
            auto = gr.Button("Choose for this edit", elem_id="auto-choose", size="sm")
        hold = gr.Button("Hold the other tags on this face (step back along what the tagger sees moved)",
                         elem_id="hold", size="sm")
        reset = gr.Button("Reset all sliders", elem_id="reset-all", size="sm")
        return EditControls(method, space, layers, lo, hi, keep, auto_keep, auto_layers, auto, hold, reset)

    def slider_groups(self) -> Sliders:
        """An accordion per group: the tag sliders (the method's shown), then MAX_COMPONENTS component slots."""
        initial = {s.key for s in self.studio.specs(self.method)}
        comps = self.studio.specs(self.method)[:MAX_COMPONENTS] if self.method in COMPONENT_METHODS else []
        slider = functools.partial(gr.Slider, -SLIDER_MAX, SLIDER_MAX, value=0, step=SLIDER_STEP)
        sliders, groups = [], []
        for g in sl.GROUPS:
            members = [s for s in self.tag_specs if s.group == g]
            visible = any(s.key in initial for s in members) or bool(comps and g == "components")
            with gr.Accordion(g, open=True, visible=visible, elem_id=f"group-{g}") as box:
                sliders += [slider(label=s.label, elem_id=slider_id(s.key), visible=s.key in initial) for s in members]
                for k in range(MAX_COMPONENTS) if g == "components" else ():
                    sliders.append(slider(label=comps[k].label if k < len(comps) else f"component {k}",
                                          elem_id=f"slider-slot-{k}", visible=k < len(comps)))
            groups.append(box)
        return Sliders(sliders, groups)

    def wire_edit(self):
        st, e, sliders, status = self.studio, self.edit, self.sliders.all, self.result.status
        # Slider moves: the edited face (a low-resolution preview with `preview`: the full image on release); the
        # meter too when the tagger is fast enough and there is no preview. Moves and releases skip Gradio's queue (one
        # plain HTTP request instead of join + event stream: 66-75 ms against 137-167 ms median per move on the demo,
        # benchmarks/bench_studio.py, load 8); the page keeps at most one move per slider in flight (always_last)
        # and the Studio's lock serialises renders. The slider's own reset button sets it to 0 and fires `release`.
        for s in sliders:
            s.input(self._guard(self.on_move, self.moved), self.inputs, self.moved, trigger_mode="always_last",
                    show_progress="hidden", queue=False)
            s.release(self._guard(self.on_rest, self.shown), self.inputs, self.shown, show_progress="hidden",
                      queue=False)
        self._on(e.reset.click, lambda: [0.0] * len(sliders), None, sliders, guard=False, queue=False)

        def on_method(m, sp):
            return {**self.method_ui(m, sp), status: status_html(f"{m} directions in {sp}")}

        def on_layers(choice):
            return gr.update(visible=choice == "range"), gr.update(visible=choice == "range")

        def do_auto(use_keep, use_layers, f, *c):
            new, reasons = st.auto_edit(self.state(*c), bool(use_keep), bool(use_layers))
            return {**self.layer_ui(new), e.keep: gr.update(value=list(new.keep)),
                    **dict(zip(sliders, self.slider_values(new))), status: status_html("; ".join(reasons))}

        def do_hold(f, *c):
            new, notes = st.hold(f, self.state(*c))
            return {self.held: new.hold, status: status_html("; ".join(notes))}

        for choice in (e.method, e.space):
            self._on(choice.input, on_method, [e.method, e.space],
                     [*sliders, *self.sliders.groups, e.keep, self.sweep.key, status], show_progress="full")
        self._on(e.layers.input, on_layers, e.layers, [e.lo, e.hi], guard=False, queue=False)
        for event in (e.lo.release, e.hi.release, e.keep.input):
            self._on(event, lambda: None, None, None, guard=False, queue=False)
        self._on(e.auto.click, do_auto, [e.auto_keep, e.auto_layers, *self.inputs],
                 [e.layers, e.lo, e.hi, e.keep, *sliders, status])
        self._on(e.hold.click, do_hold, self.inputs, [self.held, status])

    def keep_row(self) -> tuple[Recipes, Sweep]:
        """Keep what you made: the recipe (save as JSON or PNG, load) and the strength sweep (export)."""
        with gr.Row():
            with gr.Column():
                gr.Markdown("### Keep what you made")
                with gr.Row():
                    save_json = gr.Button("Save recipe (JSON)", elem_id="save-recipe")
                    save_png = gr.Button("Save PNG (recipe inside)", elem_id="save-png")
                saved = gr.File(label="saved", interactive=False, elem_id="saved")
                load = gr.File(label="load a recipe (.json) or a PNG the studio saved", type="filepath", elem_id="load")
            with gr.Column():
                gr.Markdown("### Strength sweep")
                specs = self.studio.specs(self.method)[:MAX_COMPONENTS]
                key = gr.Dropdown([(s.label, s.key) for s in specs], label="slider",
                                  value=specs[0].key if specs else None, elem_id="sweep-key")
                with gr.Row():
                    lo = gr.Number(value=-1.5, label="from", elem_id="sweep-lo")
                    hi = gr.Number(value=1.5, label="to", elem_id="sweep-hi")
                    n = gr.Slider(2, 60, value=12, step=1, label="frames", elem_id="sweep-n")
                    fmt = gr.Radio(list(FORMATS), value="gif", label="format", elem_id="sweep-fmt")
                export = gr.Button("Export sweep", elem_id="export-sweep")
                exported = gr.File(label="sweep", interactive=False, elem_id="exported")
        return Recipes(save_json, save_png, saved, load), Sweep(key, lo, hi, n, fmt, export, exported)

    def wire_keep(self):
        st, r, sw, status = self.studio, self.recipes, self.sweep, self.result.status

        def do_save_json(f, *c):
            path = save_recipe(self.out, st.recipe(f, self.state(*c)))
            return {r.saved: str(path), status: status_html(f"saved {path}")}

        def do_save_png(f, *c):
            recipe = st.recipe(f, self.state(*c))
            path = save_png(self.out, st.image_of(recipe), recipe)
            return {r.saved: str(path), status: status_html(f"saved {path}")}

        def do_load(path, f, *c):
            if not path:
                return {status: status_html("")}
            try:
                recipe = load_recipe(path)
                new_face = st.check_face(st.face_of(recipe))
                state, notes = st.state_of(recipe, self.state(*c))
            except LatentEditError as e:  # the box is emptied either way, ready for the next file
                return {r.load: None, status: status_html(str(e), "error")}
            msg = f"loaded {Path(path).name}" + ("; " + "; ".join(notes) if notes else "")
            return {self.face: new_face, self.edit.method: state.method, self.edit.space: state.space,
                    self.held: state.hold, **self.layer_ui(state), **self.method_ui(state.method, state.space, state),
                    r.load: None, status: status_html(msg)}

        def do_export(f, key, a, b, n, fmt, *c):
            frames = st.sweep(f, self.state(*c), key, float(a), float(b), int(n))
            data = frames.tobytes() + f"{key}{a}{b}{n}".encode()
            path = write_animation(self.out / file_name("sweep", data, f".{fmt}"), frames, fmt)
            return str(path), status_html(f"exported {path} ({len(frames)} strengths, there and back)")

        self._on(r.save_json.click, do_save_json, self.inputs, [r.saved, status], rest=False)
        self._on(r.save_png.click, do_save_png, self.inputs, [r.saved, status], rest=False)
        self._on(r.load.upload, do_load, [r.load, *self.inputs],
                 [*self.inputs, *self.sliders.groups, sw.key, r.load, status])
        self._on(sw.export.click, do_export, [self.face, sw.key, sw.lo, sw.hi, sw.n, sw.fmt, *self.controls],
                 [sw.exported, status], rest=False)
