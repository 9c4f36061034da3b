"""Issue-14 goal table of the demo anime->style encoder (assets/demo-style-encoder.pt).

200 fresh anime renders (unseen in training) are the references; each is encoded, decoded by the
demo generator on the content of its own demo selfie, and read by the world's pixel readout, as is
the face of the reference's true code. Prints agreement rates per attribute, with refinement off
and on, against the true-code face and against the reference's ground truth, plus the
posterior-mean oracle (the code a perfect encoder of the render returns) that bounds what any
encoder can reach against the true-code face.

    python benchmarks/bench_reference.py            # refinement: RefineConfig() defaults
    python benchmarks/bench_reference.py --n 200 --seed 0 --refine-steps 30 --space z
"""

import argparse
import os
import sys
from pathlib import Path

import torch

from latentedit.editing.reference import RefineConfig, load_style_encoder
from latentedit.models.generator import load_generator

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tools/ imports from the repository root
from tools.world.train_style_encoder import goal_table  # noqa: E402


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--refine-steps", type=int, default=RefineConfig.steps, help="0 skips the refinement rows")
    p.add_argument("--space", default=RefineConfig.space, choices=["z", "w", "w+"])
    p.add_argument("--lr", type=float, default=RefineConfig.lr)
    p.add_argument("--generator", default="demo", help="demo, or another demo-world generator checkpoint")
    p.add_argument("--no-oracle", action="store_true", help="skip the posterior-mean oracle rows")
    p.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", 1)))
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    G, encoder = load_generator(args.generator), load_style_encoder("demo")
    refine = None
    if args.refine_steps:
        refine = RefineConfig(steps=args.refine_steps, space=args.space, lr=args.lr, seed=args.seed)
    table = goal_table(G, encoder, n=args.n, seed=args.seed, refine=refine, oracle=not args.no_oracle)
    print(f"{args.n} fresh references (seed {args.seed}); refinement: "
          f"{'off' if refine is None else f'{refine.steps} steps in {refine.space}, lr {refine.lr}'}")
    print(table.markdown())
    print("seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in table.seconds.items()))


if __name__ == "__main__":
    main()
