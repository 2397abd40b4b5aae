"""Build the training mix of the general-photo default model (issue 18), as a folder of links.

Flickr8k's people-and-dogs world is broadened with the everyday photos of ``coco-general`` and the
``train2017`` half of ``coco-mini``. The result is a Flickr8k-layout folder that ``photoscribe train``
reads as it is:

- ``Images/``: links to the photos (names prefixed by their source so none collide),
- ``captions.txt``: ``image,caption`` rows; a coco-general photo has one caption, repeated
  ``--general-repeat`` times so that it weighs like a Flickr8k photo with five,
- ``Flickr_8k.trainImages.txt``: Flickr8k train + coco-general train part + coco-mini train2017,
- ``Flickr_8k.devImages.txt``: Flickr8k dev (model choice stays on Flickr8k's standard dev split),
- ``Flickr_8k.testImages.txt``: the held-out quarter of coco-general (``general-dev``), never
  trained on: ``photoscribe evaluate MODEL MIX --split test`` scores it.

coco-general is split by a hash of the file name (one photo in four held out), so the split does
not depend on the order of the files. Flickr8k's test split is never read (its photos are not in
the shared copy). Usage: ``python scripts/make_general_mix.py ../shared/data OUT``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
from pathlib import Path


def held_out(name: str) -> bool:
    """One coco-general photo in four, chosen by a hash of its name."""
    return hashlib.sha1(name.encode()).digest()[0] % 4 == 0


def _read_kaggle(path: Path) -> list[tuple[str, str]]:
    rows = []
    for line in path.read_text("utf-8").splitlines()[1:]:
        name, sep, caption = line.partition(",")
        if sep and caption.strip():
            rows.append((name.strip(), caption.strip().strip('"')))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "shared_data", type=Path, help="the folder holding flickr8k/, coco-general/, coco-mini/"
    )
    parser.add_argument("out", type=Path)
    parser.add_argument("--general-repeat", type=int, default=5)
    args = parser.parse_args()
    src, out = args.shared_data.resolve(), args.out
    images = out / "Images"
    images.mkdir(parents=True, exist_ok=True)
    captions: list[tuple[str, str]] = []
    train: list[str] = []

    def link(target: Path, name: str) -> None:
        dest = images / name
        if not dest.exists():
            os.symlink(target, dest)

    f8 = src / "flickr8k"
    f8_split = {}
    for split, file in (("train", "Flickr_8k.trainImages.txt"), ("dev", "Flickr_8k.devImages.txt")):
        for line in (f8 / file).read_text("utf-8").split():
            f8_split[line] = split
    for name, caption in _read_kaggle(f8 / "captions.txt"):
        if name in f8_split:
            captions.append((f"f8_{name}", caption))
    for name, split in f8_split.items():
        link(f8 / "Images" / name, f"f8_{name}")
        if split == "train":
            train.append(f"f8_{name}")
    dev = [f"f8_{n}" for n, s in f8_split.items() if s == "dev"]

    general = src / "coco-general"
    general_dev: list[str] = []
    for name, caption in _read_kaggle(general / "captions.txt"):
        link(general / "Images" / name, f"cg_{name}")
        if held_out(name):
            general_dev.append(f"cg_{name}")
            captions.append((f"cg_{name}", caption))
        else:
            train.append(f"cg_{name}")
            captions += [(f"cg_{name}", caption)] * args.general_repeat

    mini = src / "coco-mini"
    ann = json.loads((mini / "annotations" / "captions_train2017.json").read_text("utf-8"))
    files = {img["id"]: img["file_name"] for img in ann["images"]}
    for a in ann["annotations"]:
        captions.append((f"cm_{files[a['image_id']]}", " ".join(a["caption"].split())))
    for file_name in files.values():
        link(mini / "train2017" / file_name, f"cm_{file_name}")
        train.append(f"cm_{file_name}")

    (out / "captions.txt").write_text("image,caption\n" + "".join(f"{n},{c}\n" for n, c in captions), "utf-8")
    (out / "Flickr_8k.trainImages.txt").write_text("".join(f"{n}\n" for n in sorted(set(train))), "utf-8")
    (out / "Flickr_8k.devImages.txt").write_text("".join(f"{n}\n" for n in sorted(dev)), "utf-8")
    (out / "Flickr_8k.testImages.txt").write_text("".join(f"{n}\n" for n in sorted(general_dev)), "utf-8")
    print(
        f"{out}: {len(set(train))} train photos ({len(captions)} caption rows), {len(dev)} dev (Flickr8k), "
        f"{len(general_dev)} general-dev held out"
    )


if __name__ == "__main__":
    main()
