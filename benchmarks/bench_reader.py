"""The demo world's reader, checked against the truth of the codes (issue 31).

Decodes `--samples` fresh demo faces (DemoBatch, seeded) twice: unedited, and after the z edit
+open_mouth -closed_mouth along the world's planted vectors at the linear method's default
strengths in z (`resolve_strengths`: (15, 5) x code scale x sqrt(8/512)). Reads both with
`world.batch_readout.BatchReader` and prints, per attribute, the share of faces whose reading
equals the truth of the code each face was decoded from (eye colour where the truth has open
eyes; background within BACKGROUND_TOLERANCE), and the seconds each read took.

    python benchmarks/bench_reader.py                      # 200 faces, seed 1
    python benchmarks/bench_reader.py --samples 200 --seed 2 --json out.json
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from latentedit.directions import DirectionSet
from latentedit.editing import with_spread
from latentedit.editing.strengths import resolve_strengths
from latentedit.models.checkpoint import load_generator
from latentedit.world import truth
from latentedit.world.batch_readout import ATTRIBUTES, BACKGROUND_TOLERANCE, BatchReader
from latentedit.world.evaluate import DemoBatch


def truth_reads(z: np.ndarray) -> dict[str, np.ndarray]:
    a = truth.attributes(z)
    out = {k: a[k] for k in ATTRIBUTES}
    out["eye_color"] = np.where(a["closed_eyes"] == 1, -1, a["eye_color"])
    return out


def agreement(reads: dict, z: np.ndarray) -> dict[str, tuple[int, int]]:
    t = truth_reads(z)
    out = {}
    for k in ATTRIBUTES:
        if k == "background":
            hit = np.abs(reads[k] - t[k]) <= BACKGROUND_TOLERANCE
        elif k == "eye_color":
            shown = t[k] >= 0
            hit = reads[k][shown] == t[k][shown]
        else:
            hit = reads[k] == t[k]
        out[k] = (int(hit.sum()), int(hit.size))
    return out


def edited_codes(z: np.ndarray) -> np.ndarray:
    """z + A v(open_mouth) - B v(closed_mouth), the linear defaults in z."""
    names = ["open_mouth", "closed_mouth"]
    ds = with_spread(DirectionSet("linear", "z", names, [truth.attribute_vector(n) for n in names]), z)
    a, b = resolve_strengths(ds, ["open_mouth"], ["closed_mouth"])
    return z + a * truth.attribute_vector("open_mouth") - b * truth.attribute_vector("closed_mouth")


def measure(args) -> dict:
    torch.set_num_threads(args.threads)
    G = load_generator("demo")
    batch = DemoBatch.sample(G, args.samples, seed=args.seed)
    z = batch.z.astype(np.float64)
    z_edit = edited_codes(z)
    with torch.inference_mode():
        w_edit = G.mapping(torch.from_numpy(z_edit).float())
    before, after = batch.decode(G, batch.w), batch.decode(G, w_edit)
    reader = BatchReader(batch.geometry, batch.z, G.size)
    t0 = time.perf_counter()
    read_before = reader.read(before)
    t1 = time.perf_counter()
    read_after = reader.read(after)
    t2 = time.perf_counter()
    return {"samples": args.samples, "seed": args.seed, "seconds_unedited": round(t1 - t0, 2),
            "seconds_edited": round(t2 - t1, 2), "unedited": agreement(read_before, z),
            "edited": agreement(read_after, z_edit)}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--samples", type=int, default=200)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", help="also write the numbers here")
    args = p.parse_args(argv)
    out = measure(args)
    print(f"{args.samples} faces, seed {args.seed}: read in {out['seconds_unedited']} s unedited, "
          f"{out['seconds_edited']} s edited (+open_mouth -closed_mouth in z)")
    print(f"{'attribute':18s} {'unedited':>16s} {'edited':>16s}")
    for k in ATTRIBUTES:
        cells = [f"{a / n:6.1%} ({a}/{n})" if n else "-" for a, n in (out["unedited"][k], out["edited"][k])]
        print(f"{k:18s} {cells[0]:>16s} {cells[1]:>16s}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
