#!/usr/bin/env python3
"""Copy the demo photos into resources/demo/ from the shared COCO sample, with their credits.

The photos are chosen for a licence that lets anyone pass on a resized copy for any use, as an
MIT package must: CC BY (or no known copyright restrictions); never NC, ND nor SA. And for scenes
the bundled model knows (people, dogs, sport, streets, beaches; see docs/model-card.md). Each is
downscaled to at most 640 px and saved as a JPEG of quality 82; resources/demo/CREDITS.md names
each photo's Flickr page (its author), licence and the changes.

Usage: python scripts/bundle_demo_photos.py [--coco ../shared/data/coco-mini]
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

from PIL import Image

CHOSEN = (
    "val2017/000000377575.jpg",
    "train2017/000000129648.jpg",
    "train2017/000000174375.jpg",
    "train2017/000000000790.jpg",
    "val2017/000000165518.jpg",
    "val2017/000000183709.jpg",
    "val2017/000000214753.jpg",
    "val2017/000000126107.jpg",
    "val2017/000000423617.jpg",
    "train2017/000000231460.jpg",
    "train2017/000000107438.jpg",
    "train2017/000000234748.jpg",
    "val2017/000000519208.jpg",
    "val2017/000000397133.jpg",
    "val2017/000000160012.jpg",
    "val2017/000000229358.jpg",
    "train2017/000000516008.jpg",
    "train2017/000000525891.jpg",
)
ALLOWED = {"4", "7", "8"}  # CC BY, no known copyright restrictions, US government work: any use
MAX_SIDE = 640


def _flickr_page(static_url: str) -> str:
    """The photo's Flickr page (it names the author) from its static image URL (.../ID_SECRET_z.jpg)."""
    photo_id = static_url.rsplit("/", 1)[-1].split("_", 1)[0]
    return f"https://www.flickr.com/photo.gne?id={photo_id}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--coco", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/coco-mini"
    )
    args = parser.parse_args()
    out = Path(__file__).resolve().parents[1] / "resources" / "demo"
    out.mkdir(parents=True, exist_ok=True)
    rows = {r["path"]: r for r in csv.DictReader((args.coco / "manifest.csv").open(encoding="utf-8"))}
    credits = [
        "# Demo photos",
        "",
        "Photos from the COCO 2017 data set (cocodataset.org), each by its Flickr author (named on",
        "the photo's Flickr page below) under the Creative Commons licence named below, which allows",
        "any use, commercial included, with credit. Changes: downscaled to at most 640 px on the long",
        "side and re-encoded as JPEG (quality 82). COCO's annotations are CC BY 4.0 (the COCO",
        "Consortium); the captions below are COCO's. photoscribe's own MIT licence does not cover them.",
        "",
        "| file | licence | Flickr page (author) | source photo | a reference caption from COCO |",
        "| --- | --- | --- | --- | --- |",
    ]
    total = 0
    for rel in CHOSEN:
        row = rows[rel]
        if row["license_id"] not in ALLOWED:
            raise SystemExit(f"{rel}: licence {row['license_name']} does not allow a resized copy")
        name = Path(rel).name
        with Image.open(args.coco / rel) as img:
            img = img.convert("RGB")
            img.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
            img.save(out / name, "JPEG", quality=82, optimize=True)
        total += (out / name).stat().st_size
        caption = row["captions"].split(" | ")[0].strip().replace("|", "/")
        credits.append(
            f"| {name} | [{row['license_name'].replace(' License', '')}]({row['license_url']}) "
            f"| {_flickr_page(row['flickr_url'])} | {row['flickr_url']} | {caption} |"
        )
    (out / "CREDITS.md").write_text("\n".join(credits) + "\n", encoding="utf-8")
    print(f"{len(CHOSEN)} photos, {total / 1e6:.2f} MB in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
