"""Precision at 5 of library searches on a folder of captioned photos (issue 18's "cat", "bus", ...).

Builds a library of the folder (or reuses one), captions it with a model, runs each search and
prints the five photos found first with their captions, keywords and, when the folder has a
Kaggle-style ``captions.txt``, the human caption. A contact sheet per search is written so the
hits can be judged by eye (docs/keywords.md records the judgement). Usage::

    python scripts/search_precision.py MODEL.pt ../shared/data/coco-general --library lib.sqlite3 \\
        --out DIR cat bus pizza zebra bear computer airplane
"""

from __future__ import annotations

import argparse
import json
import textwrap
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from photoscribe.core.captioning.captioner import Captioner
from photoscribe.core.library import Library
from photoscribe.core.library.queue import CaptionQueue
from photoscribe.core.library.scanner import add_folder
from photoscribe.core.library.search import search

TILE, TEXT_H = 256, 110


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("folder", type=Path, help="photos (an Images/ sub-folder is used when there is one)")
    parser.add_argument("words", nargs="+")
    parser.add_argument("--library", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--k", type=int, default=5)
    args = parser.parse_args()
    photos = args.folder / "Images" if (args.folder / "Images").is_dir() else args.folder
    refs: dict[str, str] = {}
    if (args.folder / "captions.txt").is_file():
        for line in (args.folder / "captions.txt").read_text("utf-8").splitlines()[1:]:
            name, _, caption = line.partition(",")
            refs[name] = caption
    args.out.mkdir(parents=True, exist_ok=True)
    font = ImageFont.load_default(size=13)
    report = {}
    with Library.open(args.library) as library:
        add_folder(library, photos)
        with Captioner.load(args.checkpoint, n_best=3) as captioner:
            CaptionQueue(library, captioner).run_once()
        for word in args.words:
            hits = search(library, word, limit=args.k)
            rows = [
                {
                    "photo": Path(h.path).name,
                    "caption": h.caption.text if h.caption else "",
                    "keywords": list(h.keywords[:6]),
                    "reference": refs.get(Path(h.path).name, ""),
                }
                for h in hits
            ]
            report[word] = rows
            print(f"\n{word}:")
            for i, row in enumerate(rows, 1):
                print(
                    f"  {i}. {row['photo']}: {row['caption']} | {', '.join(row['keywords'])} | {row['reference']}"
                )
            sheet = Image.new("RGB", (args.k * TILE, TILE + TEXT_H), "white")
            draw = ImageDraw.Draw(sheet)
            for i, (hit, row) in enumerate(zip(hits, rows, strict=True)):
                with Image.open(hit.path) as im:
                    sheet.paste(im.convert("RGB").resize((TILE - 4, TILE - 4)), (i * TILE + 2, 2))
                text = f"{word} #{i + 1}: {row['caption']} [{', '.join(row['keywords'])}]"
                draw.multiline_text(
                    (i * TILE + 3, TILE), "\n".join(textwrap.wrap(text, 36)[:7]), fill="black", font=font
                )
            sheet.save(args.out / f"search_{word.replace(' ', '_')}.png")
    (args.out / "search.json").write_text(json.dumps(report, indent=1), "utf-8")


if __name__ == "__main__":
    main()
