"""`latentedit edit`: paired opposite-tag edits of a run's samples or of new selfies."""

from collections import Counter
from pathlib import Path
from typing import List, Optional

import typer

from latentedit.pipeline.autoedit import AutoOptions
from latentedit.pipeline.edit import EditRequest, default_out, edit as edit_faces
from latentedit.terminal import printable

from .options import parse_ids, parse_layers, parse_strength, parse_sweep, parse_tags


def edit(
    run: Path = typer.Argument(Path("runs/demo"), help="Run directory (directions are fitted into it if missing)."),
    add: Optional[List[str]] = typer.Option(None, "--add", help="Tag to add (repeat for several)."),
    sub: Optional[List[str]] = typer.Option(None, "--sub", help="Opposite tag to subtract (repeat for several)."),
    method: str = typer.Option("svd", help="linear | lasso | svd | svm | sefa | pca"),
    space: str = typer.Option("w", help="w (default) or z: edit the 8-d style before the mapping network (with "
                              "--layers, per layer). Directions are fitted in that space."),
    strength: Optional[str] = typer.Option(None, help="Add-strength A (a distance in w, or in z with --space z); default per method."),
    sub_strength: Optional[str] = typer.Option(None, help="Sub-strength B (a distance in the same space); default per method."),
    sweep: Optional[str] = typer.Option(None, help="START:STOP:N add-strengths, one grid column each."),
    layers: Optional[str] = typer.Option(None, help="all | coarse | middle | fine | I-J: edit only these W+ layers; "
                                         "auto: the range with the least side effect, measured on the run."),
    keep: Optional[List[str]] = typer.Option(None, "--keep", help="TAG[,TAG...]: keep these tags, projecting their "
                                             "directions out of the edit; auto: the tags the edit moves, measured on the run."),
    per_sample: bool = typer.Option(False, "--per-sample", help="Each face at the smallest multiple (x0..x2) of the "
                                    "strengths at which the tagger surely sees the added tag and none of its attribute's "
                                    "other values (x0: it shows it already)."),
    hold: bool = typer.Option(False, "--hold", help="Then step each face back along the tags the tagger sees the "
                              "edit moved on it (off the edit's own directions)."),
    samples: Optional[int] = typer.Option(None, help="Edit N samples of the run, picked with --seed (default 8)."),
    ids: Optional[str] = typer.Option(None, help="Edit these samples of the run: ids like 12,40 or 3-5."),
    reference: Optional[Path] = typer.Option(None, help="Anime reference image: every face gets its style (GNR's G_B2A encoder)."),
    style_seed: Optional[int] = typer.Option(None, help="Every face gets the random style of this seed."),
    recipe: Optional[Path] = typer.Option(None, help="Re-apply a recipe (.json, or a PNG latentedit edit wrote): same edit, same faces, same bytes."),
    inputs: Optional[Path] = typer.Option(None, help="Edit new selfies from this folder instead (random styles)."),
    seed: int = typer.Option(0, help="Seed of the sample choice / the random styles."),
    inputs_seed: Optional[int] = typer.Option(None, help="With --inputs: selfie i gets row i of this seed's random "
                                              "styles (default --seed; a report prints the one of its faces)."),
    tagger: str = typer.Option("demo", help="Tagger for untagged runs and for naming sefa/pca directions."),
    include: Optional[List[str]] = typer.Option(None, "--include", help="Fit this tag even if the tag filter drops it (repeat)."),
    fit: bool = typer.Option(False, "--fit", help="Fit the run's directions first when they are missing (else: an error naming fit-directions)."),
    device: str = typer.Option("cpu", help="cpu or cuda."),
    out: Optional[Path] = typer.Option(None, help="Output folder (default RUN/edits/<edit name>)."),
):
    """Edit faces: w' = w + A n(add) - B n(sub); writes before/after PNGs (each carrying its recipe), a grid, codes, edit.json and recipe.json."""
    add, sub = add or [], sub or []
    if out is None:
        out = Path(run) / "edits" / f"recipe-{recipe.stem}" if recipe is not None else default_out(run, add, sub, method,
                                                                                                     layers)
    keep, layer_spec = parse_tags(keep), parse_layers(layers)
    auto = AutoOptions(keep="auto" in keep, layers=layer_spec == "auto", per_sample=per_sample, hold=hold)
    request = EditRequest(
        add=add, sub=sub, method=method, space=space,
        strength=None if strength is None else parse_strength(strength, "--strength"),
        sub_strength=None if sub_strength is None else parse_strength(sub_strength, "--sub-strength"),
        sweep=None if sweep is None else parse_sweep(sweep), layers=None if auto.layers else layers,
        keep=tuple(t for t in keep if t != "auto"), samples=samples, inputs=inputs, seed=seed, inputs_seed=inputs_seed,
        tagger=tagger,
        include=include or [], fit=fit,
        device=device, out=out, ids=parse_ids(ids), reference=reference, style_seed=style_seed, recipe=recipe,
        auto=auto)
    result = edit_faces(run, request)
    r = result.record
    typer.echo(printable(f"edit       {_signed_tags(r)} ({r['method']} directions)"))
    if r["sweep"] is not None:
        typer.echo("sweep      " + ", ".join(f"A={a:.4g} B={b:.4g}" for a, b in result.strengths))
    else:
        a, b = result.strengths[0]
        default = [] if r["strength_given"] else ["A"]
        default += [] if r["sub_strength_given"] or not r["sub"] else ["B"]
        k = r["default_strengths_in_code_scale"]
        unit = f"code scale {r['code_scale']:.3g}" + (f" x sqrt({r['code_dim']}/512)" if r["code_dim"] != 512 else "")
        note = f" ({' and '.join(default)}: {r['method']} default {k[0]:g}, {k[1]:g} x {unit})" if default else ""
        typer.echo(f"strengths  A={a:.4g} B={b:.4g}{note}")
    typer.echo(f"layers     {'all (' + r['space'] + ')' if r['layer_indices'] is None else r['layer_indices']}")
    if r.get("auto"):
        for choice in r["auto"]["choices"]:
            typer.echo(printable(f"auto       {choice['kind']}: {choice['reason']}"))
    for line in _per_face_lines(r.get("per_face")):
        typer.echo(printable(line))
    if r.get("keep"):
        typer.echo(f"keep       {', '.join(r['keep'])} (their directions projected out)")
    typer.echo(f"images     {len(result.labels)} rows x {len(result.strengths) + 1} columns")
    typer.echo(f"output     {result.out} (grid.png, before/, after/, codes.npz, edit.json, recipe.json)")


def _signed_tags(record: dict) -> str:
    """'+long_hair -short_hair': each tag with the sign the edit moves it by (a recipe or a negative
    --strength can subtract an added tag; a sweep is named by its added and subtracted tags)."""
    a, b = record["strength"], record["sub_strength"]
    add = "-" if a is not None and a < 0 else "+"
    sub = "+" if b is not None and b < 0 else "-"
    return " ".join([add + t for t in record["add"]] + [sub + t for t in record["sub"]])


def _per_face_lines(record) -> list[str]:
    """What --per-sample and --hold did, one line each."""
    if not record:
        return []
    lines = []
    each, held = record.get("per_sample"), record.get("hold")
    if each:
        counts = Counter(each["factors"])
        factors = ", ".join(f"x{f:g} ({n}{' showing it already' if f == 0 else ''})" for f, n in sorted(counts.items()))
        lines.append(f"per sample strength multiples (faces): {factors}; the tagger sees the target on "
                     f"{sum(each['reached'])} of {len(each['reached'])} ({record['measured_by']['reached']})")
    if held:
        n = len(held["corrections"])
        fixed = sum(bool(c) for c in held["corrections"])
        lines.append(f"hold       {fixed} of {n} faces corrected; tags moved on {round(held['moved_share_before'] * n)} "
                     f"faces before, {round(held['moved_share_after'] * n)} after")
    return lines
