#!/usr/bin/env python3
"""Copy the demo photos into resources/demo/ from the shared COCO sample, with their credits.

The photos are chosen for a Creative Commons licence that allows redistribution of a resized
copy (BY, BY-SA, BY-NC, BY-NC-SA; never ND) and for scenes a Flickr8k-trained model knows
(people, dogs, sport, water, snow; Flickr8k has few other animals, see docs/model-card.md). Each is downscaled to at most 640 px and saved
as a JPEG of quality 82; resources/demo/CREDITS.md names author page, licence and changes.

Usage: python scripts/bundle_demo_photos.py [--coco ../shared/data/coco-mini]
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

from PIL import Image

CHOSEN = (
    "val2017/000000377575.jpg",
    "train2017/000000442450.jpg",
    "train2017/000000129648.jpg",
    "val2017/000000349860.jpg",
    "val2017/000000117645.jpg",
    "train2017/000000332078.jpg",
    "train2017/000000037666.jpg",
    "val2017/000000406129.jpg",
    "val2017/000000435206.jpg",
    "train2017/000000174375.jpg",
    "train2017/000000538113.jpg",
    "val2017/000000183709.jpg",
    "val2017/000000434204.jpg",
    "val2017/000000165518.jpg",
    "train2017/000000227000.jpg",
    "train2017/000000000790.jpg",
    "val2017/000000000139.jpg",
    "val2017/000000151938.jpg",
)
ALLOWED = {"1", "2", "4", "5"}  # BY-NC-SA, BY-NC, BY, BY-SA: resized copies may be shared
MAX_SIDE = 640


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
        "Photos from the COCO 2017 data set (cocodataset.org), each by its Flickr author under the",
        "Creative Commons licence named below. Changes: downscaled to at most 640 px on the long side",
        "and re-encoded as JPEG (quality 82). COCO's annotations are CC BY 4.0 (the COCO Consortium).",
        "",
        "| file | licence | source photo | a reference caption from COCO |",
        "| --- | --- | --- | --- |",
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
            f"| {row['flickr_url']} | {caption} |"
        )
    (out / "CREDITS.md").write_text("\n".join(credits) + "\n", encoding="utf-8")
    print(f"{len(CHOSEN)} photos, {total / 1e6:.2f} MB in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
