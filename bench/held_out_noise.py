"""How many held-out captions before a CIDEr comparison of two models is more than noise?

Fine-tuning on the library holds out a fifth of a person's captions to compare the new model
with the current one (training/library_finetune.py). With one reference per photo (the person's
caption), a small held-out set can name the worse model the better one. This measures how often,
without training anything: on synthetic shape photos, model A writes each photo's own caption and
model B the same except on a fraction P of photos, where it writes another photo's caption (B is
worse on P of the photos). For held-out sizes n, 200 random subsets of n photos are scored and the
rate of wrong verdicts (B scores at least A) is reported.

    python bench/held_out_noise.py 0.1 0.2

Measured (docs/training.md): held-out of 20 photos: 10 % wrong verdicts at P = 0.1, 2 % at P = 0.2;
40 photos: none in 200 draws for either.
"""

from __future__ import annotations

import json
import random
import sys
import tempfile
from pathlib import Path

import numpy as np

from photoscribe.training.metrics import score_captions
from photoscribe.training.synth import generate_shapes

SIZES = (5, 10, 20, 40, 80)
DRAWS = 200


def main(fractions: list[float]) -> None:
    root = generate_shapes(Path(tempfile.mkdtemp()) / "shapes", 400, image_size=32, seed=3)
    images = json.loads((root / "shapes.json").read_text())["images"]
    ids = [str(i) for i in range(len(images))]
    refs = {i: [images[int(i)]["captions"][4]] for i in ids}  # one reference, as a person's caption
    a = {i: images[int(i)]["captions"][0] for i in ids}
    for p in fractions:
        rng = random.Random(0)
        b = {i: a[i] if rng.random() >= p else images[rng.randrange(len(images))]["captions"][0] for i in ids}
        print(f"B worse on {p:.0%} of photos")
        for n in SIZES:
            diffs = []
            for _ in range(DRAWS):
                sub = rng.sample(ids, n)
                ref = {k: refs[k] for k in sub}
                da = score_captions(ref, {k: a[k] for k in sub}).scores["CIDEr"]
                db = score_captions(ref, {k: b[k] for k in sub}).scores["CIDEr"]
                diffs.append(da - db)
            d = np.array(diffs)
            print(
                f"  held out {n:3d}: CIDEr A-B {d.mean():.3f} +- {d.std():.3f}; wrong verdict {np.mean(d <= 0):.0%}"
            )


if __name__ == "__main__":
    main([float(x) for x in sys.argv[1:]] or [0.1, 0.2])
