"""The edits whose output bytes a refactor must keep: made on a small truth-tagged demo run with the
pipeline's public calls only, so the same code runs on an older latentedit to record the fixture.

    python tests/same_bytes_cases.py OUT.json   # with an older checkout's python: writes its sha256s
"""

import hashlib
import json
import sys
import tempfile
from pathlib import Path

CASES = {
    "plain": dict(add="long_hair", sub="short_hair", ids=(0, 5)),
    "coarse": dict(add="long_hair", sub="short_hair", layers="coarse", ids=(1, 7)),
    "sweep": dict(add="open_mouth", sub="closed_mouth", sweep=(0.0, 10.0, 20.0), ids=(2,)),
    "explicit": dict(add="open_mouth", sub="closed_mouth", strength=9.0, sub_strength=2.0, layers=(0, 1, 2, 3),
                     ids=(3,)),
    "z": dict(add="open_mouth", sub="closed_mouth", method="lasso", space="z", ids=(4, 6)),
    "seed style": dict(add="long_hair", style_seed=3, ids=(0,)),
}


def sums(root: Path) -> dict:
    """{case/file: sha256} of every file the CASES' edits write (edit.json, a record, left out)."""
    from latentedit.pipeline.edit import edit
    from latentedit.pipeline.fit import ensure_directions
    from latentedit.pipeline.sample import sample
    from latentedit.world import truth

    run = sample("demo", root / "run", n_inputs=4, styles_per_input=3, progress=False).run
    for s in run.shards():
        codes = run.shard_codes(s)
        run.write_tag_shard(s, codes["id"], truth.tag_matrix(codes["z"]))
    run.write_tag_vocab({"tags": truth.TAGS, "tagger": "ground-truth", "source": "truth"})
    ensure_directions(run, "svd", progress=False)
    ensure_directions(run, "lasso", "z", progress=False)
    out = {}
    for name, case in CASES.items():
        folder = root / "edits" / name.replace(" ", "-")
        edit(run.path, out=folder, **case)
        for f in sorted(folder.rglob("*")):
            if f.is_file() and f.name != "edit.json":
                out[f"{name}/{f.relative_to(folder)}"] = hashlib.sha256(f.read_bytes()).hexdigest()
    return out


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as d:
        Path(sys.argv[1]).write_text(json.dumps(sums(Path(d)), indent=1, sort_keys=True) + "\n")
