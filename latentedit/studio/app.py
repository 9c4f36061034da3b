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
import logging
import traceback
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


def face_html(image: np.ndarray, which: str, caption: str) -> str:
    """One face as a native-size PNG (the page scales it up without blur): id face-before/face-after."""
    return (f'<figure class="face"><img id="face-{which}" alt="{which} face" src="{data_uri(image)}">'
            f'<figcaption>{html.escape(caption)}</figcaption></figure>')


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


def gr_update():
    return gr.update()


class StudioPage:
    """Builds the Gradio Blocks of the studio over `studio`; files are saved into `out`.

    live_meter: measure side effects at every slider move (else on release only).
    """

    def __init__(self, studio: Studio, out, method: str = "svd", live_meter: bool = True):
        self.studio = studio
        self.out = Path(out)
        self.method = method
        self.live_meter = live_meter
        tag_method = method if method not in COMPONENT_METHODS else "svd"
        self.tag_specs = studio.specs(tag_method)
        self.n_layers = len(studio.G.layer_names)

    # -- controls <-> state ---------------------------------------------------------------------
    def state(self, method, space, layers, lo, hi, keep, held, *values) -> EditState:
        n = len(self.tag_specs)
        vals = {s.key: float(v or 0) for s, v in zip(self.tag_specs, values[:n])}
        if method in COMPONENT_METHODS:
            specs = self.studio.specs(method)[:MAX_COMPONENTS]
            vals.update({s.key: float(v or 0) for s, v in zip(specs, values[n:])})
        return EditState(method, vals, layers, (int(lo), int(hi)), tuple(keep or ()), held or None,
                         space=space or "w")

    def slider_values(self, state: EditState) -> list[float]:
        """Slider positions for a state: tag sliders, then component slots."""
        out = [float(state.values.get(s.key, 0.0)) for s in self.tag_specs]
        comps = self.studio.specs(state.method)[:MAX_COMPONENTS] if state.method in COMPONENT_METHODS else []
        out += [float(state.values.get(comps[k].key, 0.0)) if k < len(comps) else 0.0 for k in range(MAX_COMPONENTS)]
        return out

    # -- handlers ----------------------------------------------------------------------------------
    def _guard(self, fn, n_outputs: int):
        """Run fn; on failure keep every output as it is and put the message in #status (last output)."""
        @functools.wraps(fn)  # keeps fn's signature: Gradio passes event data by annotation
        def wrapped(*args):
            try:
                return fn(*args)
            except LatentEditError as e:
                msg = str(e)
            except Exception as e:  # the server stays up whatever a handler hits
                log.error("studio handler failed:\n%s", traceback.format_exc())
                msg = f"internal error ({type(e).__name__}: {e}); the studio is still running"
            return tuple([gr.update()] * (n_outputs - 1)) + (status_html(msg, "error"),)

        return wrapped

    def _render(self, face, *controls, meter=True):
        state = self.state(*controls)
        frame = self.studio.render(face, state, meter=meter)
        where = f" in {state.space}" if state.space != "w" else ""
        caption = "edited" if frame.edit is None else f"edited ({state.method}{where}{', held' if frame.held else ''})"
        note = (f"render {frame.render_ms:.0f} ms" + (f", meter {frame.meter_ms:.0f} ms" if meter else ""))
        if not meter:
            meter_out = meter_html(None)
        elif frame.edit is None:
            meter_out = '<div id="meter"><p class="note">side effects: move a slider to edit the face</p></div>'
        else:
            meter_out = meter_html(frame.meter)
        return frame, face_html(frame.image, "after", caption), meter_out, timing_html(note), gr_update()

    def on_move(self, face, *controls):
        """A slider moved: the edited face (and the meter when it is live); the unedited one stays.
        Outputs: after, meter, timing, status (messages are left as they are)."""
        return self._render(face, *controls, meter=self.live_meter)[1:]

    def on_rest(self, face, *controls):
        """Anything else changed, or a slider was let go: both faces and the meter."""
        frame, *shown = self._render(face, *controls, meter=True)
        return (face_html(frame.before, "before", "unedited"), *shown)

    def method_ui(self, method, reset_components: bool, space: str = "w"):
        """Updates for a method and space: tag slider visibility, component slots (labels), keep, sweep choices."""
        specs = self.studio.specs(method, space)
        keys = {s.key for s in specs}
        updates = [gr.update(visible=s.key in keys) for s in self.tag_specs]
        comps = specs[:MAX_COMPONENTS] if method in COMPONENT_METHODS else []
        for k in range(MAX_COMPONENTS):
            extra = {"value": 0.0} if reset_components else {}
            if k < len(comps):
                updates.append(gr.update(visible=True, label=comps[k].label, **extra))
            else:
                updates.append(gr.update(visible=False, **extra))
        groups = [gr.update(visible=any(s.group == g and s.key in keys for s in self.tag_specs + comps))
                  for g in sl.GROUPS]
        keep = gr.update(choices=self.studio.keep_choices(method, space), value=[],
                         visible=method not in COMPONENT_METHODS)
        sweep_choices = [(s.label, s.key) for s in specs[:MAX_COMPONENTS] if s.key in keys]
        sweep = gr.update(choices=sweep_choices, value=sweep_choices[0][1] if sweep_choices else None)
        return updates, groups, keep, sweep

    # -- the page ------------------------------------------------------------------------------------
    def build(self):
        st = self.studio
        ids = [int(i) for i in st.sample_ids()[:GALLERY]]
        first = st.sample_face(ids[0])
        L = self.n_layers

        with gr.Blocks(title="latentedit studio", analytics_enabled=False) as demo:
            face = gr.State(first)
            held = gr.State(None)  # EditState.hold: a correction for the face and edit it was measured for
            gr.HTML(f"<h2>latentedit studio</h2><p>run <code>{html.escape(str(st.run.path))}</code>, generator "
                    f"<code>{html.escape(st.fingerprint)}</code> ({st.G.size} px, {L} W+ layers)</p>")
            with gr.Row():
                with gr.Column(scale=3, min_width=280):
                    gr.Markdown("### Face")
                    with gr.Tabs():
                        with gr.Tab("Samples"):
                            gallery = gr.Gallery(value=[(im, f"{i}") for im, i in zip(upscale(st.run.images(ids), 96), ids)],
                                                 columns=4, allow_preview=False, show_label=False, height=360,
                                                 elem_id="gallery", object_fit="contain")
                        with gr.Tab("Random"):
                            seed = gr.Number(value=0, precision=0, minimum=0, label="style seed", elem_id="seed")
                            creativity = gr.Slider(0.0, 1.0, value=1.0, step=0.05, elem_id="creativity",
                                                   label="creativity (1: as sampled, 0: the mean style)")
                            with gr.Row():
                                use_seed = gr.Button("Use this style", elem_id="use-seed")
                                next_seed = gr.Button("Next seed", elem_id="next-seed")
                        with gr.Tab("Upload"):
                            selfie = gr.File(label=f"selfie (its content; <= {MAX_BYTES // 2**20} MiB)",
                                             type="filepath", elem_id="selfie")
                            reference = gr.File(label="anime reference (its style)", type="filepath",
                                                elem_id="reference")
                with gr.Column(scale=4, min_width=320, elem_id="result-col"):
                    gr.Markdown("### Result")
                    with gr.Row():
                        before_box = gr.HTML(elem_id="before-box")
                        after_box = gr.HTML(elem_id="after-box")
                    meter = gr.HTML(elem_id="meter-box")
                    status = gr.HTML(status_html(""), elem_id="status-box")
                    timing = gr.HTML(timing_html(""), elem_id="timing-box")
                with gr.Column(scale=4, min_width=320):
                    gr.Markdown("### Edit")
                    with gr.Row():
                        method = gr.Dropdown(list(METHODS), value=self.method, label="directions", elem_id="method")
                        space = gr.Radio(list(SPACES), value="w", elem_id="space",
                                         label="space (z: the style code before the mapping network)")
                    layers = gr.Radio(list(LAYER_CHOICES), value="all", elem_id="layers",
                                      label="W+ layers (all: every layer, a plain edit)")
                    with gr.Row():
                        lo = gr.Slider(0, L - 1, value=0, step=1, label="first layer", visible=False, elem_id="layer-lo")
                        hi = gr.Slider(0, L - 1, value=L - 1, step=1, label="last layer", visible=False,
                                       elem_id="layer-hi")
                    with gr.Accordion("keep unchanged", open=False, elem_id="keep-box"):
                        keep = gr.CheckboxGroup(st.keep_choices(self.method), value=[], elem_id="keep",
                                                label="project these tags' directions out of the edit",
                                                visible=self.method not in COMPONENT_METHODS)
                    with gr.Accordion("automatic keep and layers (measured on the run's samples)", open=False,
                                      elem_id="auto-box"):
                        with gr.Row():
                            auto_keep = gr.Checkbox(True, label="keep the tags the edit moves", elem_id="auto-keep")
                            auto_layers = gr.Checkbox(True, label="W+ layers with the least side effect",
                                                      elem_id="auto-layers")
                        auto_button = gr.Button("Choose for this edit", elem_id="auto-choose", size="sm")
                    hold_button = gr.Button("Hold the other tags on this face (step back along what the tagger "
                                            "sees moved)", elem_id="hold", size="sm")
                    reset_all = gr.Button("Reset all sliders", elem_id="reset-all", size="sm")
                    sliders, group_boxes = [], []
                    initial = {s.key for s in st.specs(self.method)}
                    comps0 = st.specs(self.method)[:MAX_COMPONENTS] if self.method in COMPONENT_METHODS else []
                    for g in sl.GROUPS:
                        members = [s for s in self.tag_specs if s.group == g]
                        visible = any(s.key in initial for s in members) or bool(comps0 and g == "components")
                        with gr.Accordion(g, open=True, visible=visible, elem_id=f"group-{g}") as box:
                            for s in members:
                                sliders.append(gr.Slider(-SLIDER_MAX, SLIDER_MAX, value=0, step=SLIDER_STEP,
                                                         label=s.label, elem_id=slider_id(s.key),
                                                         visible=s.key in initial))
                            for k in range(MAX_COMPONENTS) if g == "components" else ():
                                on = k < len(comps0)
                                sliders.append(gr.Slider(-SLIDER_MAX, SLIDER_MAX, value=0, step=SLIDER_STEP,
                                                         label=comps0[k].label if on else f"component {k}",
                                                         elem_id=f"slider-slot-{k}", visible=on))
                        group_boxes.append(box)
            with gr.Row():
                with gr.Column():
                    gr.Markdown("### Keep what you made")
                    with gr.Row():
                        save_json = gr.Button("Save recipe (JSON)", elem_id="save-recipe")
                        save_image = gr.Button("Save PNG (recipe inside)", elem_id="save-png")
                    saved = gr.File(label="saved", interactive=False, elem_id="saved")
                    load = gr.File(label="load a recipe (.json) or a PNG the studio saved", type="filepath",
                                   elem_id="load")
                with gr.Column():
                    gr.Markdown("### Strength sweep")
                    sweep_specs = [s for s in st.specs(self.method)][:MAX_COMPONENTS]
                    sweep_key = gr.Dropdown([(s.label, s.key) for s in sweep_specs], label="slider",
                                            value=sweep_specs[0].key if sweep_specs else None, elem_id="sweep-key")
                    with gr.Row():
                        sweep_lo = gr.Number(value=-1.5, label="from", elem_id="sweep-lo")
                        sweep_hi = gr.Number(value=1.5, label="to", elem_id="sweep-hi")
                        sweep_n = gr.Slider(2, 60, value=12, step=1, label="frames", elem_id="sweep-n")
                        sweep_fmt = gr.Radio(list(FORMATS), value="gif", label="format", elem_id="sweep-fmt")
                    export = gr.Button("Export sweep", elem_id="export-sweep")
                    exported = gr.File(label="sweep", interactive=False, elem_id="exported")

            controls = [method, space, layers, lo, hi, keep, held] + sliders
            moved = [after_box, meter, timing, status]
            shown = [before_box] + moved
            render_args = dict(show_progress="hidden", concurrency_id="render", concurrency_limit=1)

            def rest(event):
                return event.then(self._guard(self.on_rest, 5), [face] + controls, shown, **render_args)

            # slider moves: live preview; the meter too when the tagger is fast enough
            # Moves skip Gradio's queue (one plain HTTP request instead of join + event stream: 66-75 ms
            # against 137-167 ms median per move on the demo, benchmarks/bench_studio.py, load 8); the
            # page keeps at most one move per slider in flight (always_last) and the Studio's lock
            # serialises renders. The slider's own reset button sets it to 0 and fires `release`.
            for s in sliders:
                s.input(self._guard(self.on_move, 4), [face] + controls, moved, trigger_mode="always_last",
                        show_progress="hidden", queue=False)
                s.release(self._guard(self.on_rest, 5), [face] + controls, shown, **render_args)
            rest(reset_all.click(lambda: [0.0] * len(sliders), None, sliders, queue=False))

            def on_method(m, sp):
                updates, groups, keep_u, sweep_u = self.method_ui(m, reset_components=True, space=sp)
                return (*updates, *groups, keep_u, sweep_u, status_html(f"{m} directions in {sp}"))

            method_outputs = sliders + group_boxes + [keep, sweep_key, status]
            for choice in (method, space):
                rest(choice.input(self._guard(on_method, len(method_outputs)), [method, space], method_outputs,
                                  show_progress="full"))

            def on_layers(choice):
                return gr.update(visible=choice == "range"), gr.update(visible=choice == "range")

            rest(layers.input(on_layers, layers, [lo, hi], queue=False))
            for c in (lo, hi):
                rest(c.release(lambda: None, None, None, queue=False))
            rest(keep.input(lambda: None, None, None, queue=False))

            def do_auto(use_keep, use_layers, f, *c):
                new, reasons = st.auto_edit(self.state(*c), bool(use_keep), bool(use_layers))
                ranged = new.layers == "range"
                lo_v, hi_v = new.layer_range if ranged else (0, L - 1)
                return (new.layers, gr.update(value=lo_v, visible=ranged), gr.update(value=hi_v, visible=ranged),
                        gr.update(value=list(new.keep)), *self.slider_values(new), status_html("; ".join(reasons)))

            auto_outputs = [layers, lo, hi, keep] + sliders + [status]
            rest(auto_button.click(self._guard(do_auto, len(auto_outputs)), [auto_keep, auto_layers, face] + controls,
                                   auto_outputs))

            def do_hold(f, *c):
                new, notes = st.hold(f, self.state(*c))
                return new.hold, status_html("; ".join(notes))

            rest(hold_button.click(self._guard(do_hold, 2), [face] + controls, [held, status]))

            # faces
            def pick_face(evt: gr.SelectData):
                return st.check_face(st.sample_face(ids[int(evt.index)])), status_html(f"sample {ids[int(evt.index)]}")

            rest(gallery.select(self._guard(pick_face, 2), None, [face, status]))

            def use_style(f, s, t):
                return st.check_face(st.seed_face(f, int(s or 0), float(t))), status_html(f"style seed {int(s or 0)}")

            def next_style(f, s, t):
                s = int(s or 0) + 1
                return st.check_face(st.seed_face(f, s, float(t))), s, status_html(f"style seed {s}")

            rest(use_seed.click(self._guard(use_style, 2), [face, seed, creativity], [face, status]))
            rest(next_seed.click(self._guard(next_style, 3), [face, seed, creativity], [face, seed, status]))
            rest(creativity.release(self._guard(use_style, 2), [face, seed, creativity], [face, status]))

            def uploaded(make, what):
                """An upload handler: (face, file box, status); a refused file is cleared from its box."""
                def handler(f, path):
                    if not path:
                        return gr.update(), gr.update(), status_html("")
                    try:
                        up = read_image(path)
                        return make(f, up, path), gr.update(), status_html(f"{what} {up.name}")
                    except LatentEditError as e:
                        return gr.update(), None, status_html(str(e), "error")
                return handler

            on_selfie = uploaded(lambda f, up, path: st.selfie_face(f, up), "content: selfie")
            on_reference = uploaded(lambda f, up, path: st.check_face(st.reference_face(f, path)), "style: reference")
            rest(selfie.upload(self._guard(on_selfie, 3), [face, selfie], [face, selfie, status]))
            rest(reference.upload(self._guard(on_reference, 3), [face, reference], [face, reference, status]))

            # keep what you made
            def do_save_json(f, *c):
                r = st.recipe(f, self.state(*c))
                path = save_recipe(self.out, r)
                return str(path), status_html(f"saved {path}")

            def do_save_png(f, *c):
                state = self.state(*c)
                r = st.recipe(f, state)
                path = save_png(self.out, st.image_of(r), r)
                return str(path), status_html(f"saved {path}")

            save_json.click(self._guard(do_save_json, 2), [face] + controls, [saved, status])
            save_image.click(self._guard(do_save_png, 2), [face] + controls, [saved, status])

            def do_load(path, f, *c):
                keep_all = [gr.update()] * (len(load_outputs) - 2)
                if not path:
                    return (*keep_all, gr.update(), status_html(""))
                try:
                    r = load_recipe(path)
                    new_face = st.check_face(st.face_of(r))
                    state, notes = st.state_of(r, self.state(*c))
                except LatentEditError as e:  # the box is emptied either way, ready for the next file
                    return (*keep_all, None, status_html(str(e), "error"))
                updates, groups, keep_u, sweep_u = self.method_ui(state.method, reset_components=False,
                                                                  space=state.space)
                keep_u["value"] = list(state.keep)
                values = self.slider_values(state)
                for u, v in zip(updates, values):
                    u["value"] = v
                lo_v, hi_v = state.layer_range if state.layers == "range" else (0, L - 1)
                ranged = state.layers == "range"
                msg = f"loaded {Path(path).name}" + ("; " + "; ".join(notes) if notes else "")
                return (new_face, state.method, state.space, state.layers, gr.update(value=lo_v, visible=ranged),
                        gr.update(value=hi_v, visible=ranged), keep_u, state.hold, *updates, *groups, sweep_u, None,
                        status_html(msg))

            load_outputs = ([face, method, space, layers, lo, hi, keep, held] + sliders + group_boxes
                            + [sweep_key, load, status])
            rest(load.upload(self._guard(do_load, len(load_outputs)), [load, face] + controls, load_outputs))

            def do_export(f, key, a, b, n, fmt, *c):
                state = self.state(*c)
                frames = st.sweep(f, state, key, float(a), float(b), int(n))
                data = frames.tobytes() + f"{key}{a}{b}{n}".encode()
                path = write_animation(self.out / file_name("sweep", data, f".{fmt}"), frames, fmt)
                return str(path), status_html(f"exported {path} ({len(frames)} strengths, there and back)")

            export.click(self._guard(do_export, 2), [face, sweep_key, sweep_lo, sweep_hi, sweep_n, sweep_fmt] + controls,
                         [exported, status])
            demo.load(self._guard(self.on_rest, 5), [face] + controls, shown)
        return demo
