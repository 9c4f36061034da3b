"""The demo world's reader, checked against the truth of the codes (issue 31).

Decodes `--samples` fresh demo faces (DemoBatch, seeded) unedited and after two z edits:
"default", +open_mouth -closed_mouth along the world's planted vectors at the linear method's
default strengths in z (`resolve_strengths`: (15, 5) x code scale x sqrt(8/512), a step of 2.5
along the mouth vector), and "small", each code moved (least far) to a small open mouth without a
smile (mouth score 0.5, smile score -0.2: where the single-attribute re-reads stopped at a closed
mouth and a smile). Reads them with `world.batch_readout.BatchReader` and prints, per attribute,
the share of faces whose reading equals the truth of the code each face was decoded from
(`batch_readout.agrees`; on the unedited faces this is `scoring.controls.reliability`, with its
counts), the seconds each read took (unedited: the first read of the batch, renders included;
edited: the reads after it), and, for the default edit, the colour drift of the hair, eyes and
background (CIELAB deltaE, median / 90th percentile) and the share of faces on which any
attribute but the mouth and smile changed.

    python benchmarks/bench_reader.py                      # 200 faces, seed 1
    python benchmarks/bench_reader.py --samples 200 --seed 2 --json out.json
    python benchmarks/bench_reader.py --reader OLD.py      # BatchReader from another file (an old reader)
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import time

import numpy as np
import torch

from latentedit.directions import DirectionSet
from latentedit.editing import with_spread
from latentedit.editing.strengths import resolve_strengths
from latentedit.models.generator import load_generator
from latentedit.world import truth
from latentedit.scoring.controls import any_other_changed, reliability
from latentedit.world import batch_readout
from latentedit.world.batch_readout import ATTRIBUTES, agrees, drift_summary
from latentedit.scoring.demo import DemoBatch


def small_open_mouths(z: np.ndarray) -> np.ndarray:
    """Each code moved least far to mouth score 0.5 and smile score -0.2."""
    M = np.stack([truth.VECTORS["mouth"], truth.VECTORS["smile"]])
    return z + (M.T @ np.linalg.solve(M @ M.T, (np.array([0.5, -0.2]) - z @ M.T).T)).T


def edited_codes(z: np.ndarray) -> np.ndarray:
    """z + A v(open_mouth) - B v(closed_mouth), the linear defaults in z."""
    names = ["open_mouth", "closed_mouth"]
    ds = with_spread(DirectionSet("linear", "z", names, [truth.attribute_vector(n) for n in names]), z)
    a, b = resolve_strengths(ds, ["open_mouth"], ["closed_mouth"])
    return z + a * truth.attribute_vector("open_mouth") - b * truth.attribute_vector("closed_mouth")


def measure(args) -> dict:
    torch.set_num_threads(args.threads)
    reader_class = batch_readout.BatchReader
    if args.reader:
        spec = importlib.util.spec_from_file_location("other_reader", args.reader)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        reader_class = module.BatchReader
    G = load_generator("demo")
    batch = DemoBatch.sample(G, args.samples, seed=args.seed)
    z = batch.z.astype(np.float64)
    codes = {"default": edited_codes(z), "small": small_open_mouths(z)}
    with torch.inference_mode():
        images = {k: batch.decode(G, G.mapping(torch.from_numpy(c).float())) for k, c in codes.items()}
    before = batch.decode(G, batch.w)
    reader = reader_class(batch.geometry, batch.z, G.size)
    t0, c0 = time.perf_counter(), time.process_time()
    read_before = reader.read(before)
    t1, c1 = time.perf_counter(), time.process_time()
    reads = {k: reader.read(v) for k, v in images.items()}
    t2, c2 = time.perf_counter(), time.process_time()
    out = {"samples": args.samples, "seed": args.seed, "reader": args.reader or "batch_readout.BatchReader",
           "seconds_unedited": round(t1 - t0, 2), "seconds_edited": round((t2 - t1) / len(images), 2),
           "cpu_seconds_unedited": round(c1 - c0, 2), "cpu_seconds_edited": round((c2 - c1) / len(images), 2),
           "agreement": {"unedited": {a: [r.count, r.n] for a, r in reliability(read_before, z).items()},
                         **{k: {a: [int(v.sum()), int(v.size)] for a, v in agrees(reads[k], codes[k]).items()}
                            for k in codes}}}
    _, share = any_other_changed(read_before, reads["default"], ("open_mouth", "smile"))
    out["default_any_other_changed"] = share.to_dict()
    if hasattr(reader, "colour_drift"):
        out["default_drift"] = drift_summary(reader.colour_drift(before, images["default"]))
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--samples", type=int, default=200)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--reader", help="a Python file whose BatchReader to measure instead")
    p.add_argument("--json", help="also write the numbers here")
    args = p.parse_args(argv)
    out = measure(args)
    print(f"{out['reader']}, {args.samples} faces, seed {args.seed}: read in {out['seconds_unedited']} s "
          f"({out['cpu_seconds_unedited']} s CPU) unedited (first read), {out['seconds_edited']} s "
          f"({out['cpu_seconds_edited']} s CPU) per edited read")
    columns = list(out["agreement"])
    print(f"agreement with the truth of the codes\n{'attribute':18s}" + "".join(f"{c:>17s}" for c in columns))
    for k in ATTRIBUTES:
        cells = [f"{a / n:6.1%} ({a}/{n})" if n else "-" for a, n in (out["agreement"][c][k] for c in columns)]
        print(f"{k:18s}" + "".join(f"{c:>17s}" for c in cells))
    share = out["default_any_other_changed"]
    print(f"default edit: any attribute but mouth and smile changed on {share['rate']:.1%} of faces "
          f"(95% CI {share['ci95'][0]:.1%}-{share['ci95'][1]:.1%})")
    for region, d in out.get("default_drift", {}).items():
        print(f"default edit: {region} deltaE median {d['median']:.2f}, p90 {d['p90']:.2f} ({d['n']} faces)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
