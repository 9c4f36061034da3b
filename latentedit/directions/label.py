"""Names for unnamed directions (SeFa, PCA): edit along each one and see which tags move.

SeFa's eigenvectors are numbered, not named. To compare them with tag directions, sample styles,
push each eigenvector both ways, tag the decoded images and report the tags whose scores change
most. `closest_labelled` then picks, for a tag, the eigenvector (and the sign) that moves it most,
and `named_directions` turns that choice into an ordinary named DirectionSet an edit can use.
"""

from __future__ import annotations

import numpy as np
import torch

from latentedit.directions.base import DirectionSet
from latentedit.errors import TagError, unknown_name_message
from latentedit.images import from_uint8, to_uint8
from latentedit.models import batched
from latentedit.world.render import demo_selfies

# Default labelling strength: this many std of w along the direction, each way.
LABEL_STDS = 2.5


def sample_content(generator, n: int, seed: int = 0, batch_size: int = 16) -> torch.Tensor:
    """Content codes of `n` demo-world selfies rendered at the generator's size (seeded); empty
    ones (n, 0) for a generator that draws from codes alone."""
    if not generator.takes_content:
        return torch.zeros(n, 0)
    images, _ = demo_selfies(n, seed=seed, size=generator.size)
    device = next(generator.parameters()).device
    return batched.encode_content(generator, from_uint8(images), batch_size, device=device)


def sample_w(generator, n: int, seed: int = 0) -> torch.Tensor:
    """w = mapping(z) of `n` seeded styles z ~ N(0, I)."""
    z = np.random.default_rng(seed).standard_normal((n, generator.latent_dim)).astype(np.float32)
    device = next(generator.parameters()).device
    with torch.inference_mode():
        return generator.mapping(torch.from_numpy(z).to(device))


def _decode_scores(generator, tagger, content, w, batch_size):
    return batched.decode(generator, content, w, batch_size, convert=lambda img: tagger.score(to_uint8(img)))


def label_directions(generator, directions, tagger, n: int = 64, strength=None, seed: int = 0, content=None,
                     names=None, top: int | None = 5, batch_size: int = 16):
    """For each direction, the `top` tags whose mean score moves most between -s and +s.

    Returns [(direction name, [(tag, delta), ...]), ...] in the order of the set, each tag list
    sorted by |delta| (delta = mean score at w + s v minus mean score at w - s v, in [-1, 1]);
    `top=None` keeps every tag.
    `strength` s is an absolute w distance; by default LABEL_STDS std of the sampled w along v.
    Content codes come from demo-world selfies unless `content` (n, C, S, S) is given.
    """
    names = list(directions.names if names is None else names)
    w = sample_w(generator, n, seed)
    if content is None:
        content = sample_content(generator, n, seed, batch_size)
    content = content[:n]
    labels = []
    for name in names:
        v = torch.from_numpy(directions.vector(name)).to(w)
        s = float(strength) if strength is not None else LABEL_STDS * float((w @ v).std())
        up = _decode_scores(generator, tagger, content, w + s * v, batch_size)
        down = _decode_scores(generator, tagger, content, w - s * v, batch_size)
        delta = (up - down).mean(axis=0)
        order = np.argsort(-np.abs(delta), kind="stable")[:top]
        labels.append((name, [(str(tagger.tags[j]), float(delta[j])) for j in order]))
    return labels


def closest_labelled(labels, tag: str) -> tuple[str, float, float]:
    """The direction that moves `tag` most: (name, sign, delta); sign +1 when adding it adds the tag.

    Only the labels' listed tags count, so label with a `top` large enough to include `tag`.
    """
    best = None
    for name, moves in labels:
        for t, delta in moves:
            if t == tag and (best is None or abs(delta) > abs(best[2])):
                best = (name, 1.0 if delta >= 0 else -1.0, float(delta))
    if best is None:
        known = sorted({t for _, moves in labels for t, _ in moves})
        raise TagError(f"no labelled direction moves tag {tag!r}; "
                       f"{unknown_name_message('tag', tag, known).split('; ', 1)[1]}")
    return best


def named_directions(directions, labels, tags) -> DirectionSet:
    """A DirectionSet named by tags: each tag's closest labelled direction, signed toward the tag.

    It keeps the code scale of `directions`, so it edits at default strength as they do."""
    names, vectors, source, deltas = [], [], [], []
    for tag in tags:
        name, sign, delta = closest_labelled(labels, tag)
        names.append(tag)
        vectors.append(sign * directions.vector(name))
        source.append(f"{'+' if sign > 0 else '-'}{name}")
        deltas.append(delta)
    params = {**directions.params, "labelled_from": dict(zip(names, source))}
    stats = {"label_delta": np.array(deltas, dtype=np.float64)}
    return DirectionSet(directions.method, directions.space, names, np.array(vectors, np.float32), stats,
                        directions.generator_fingerprint, params, directions.code_scale)
