"""Contact sheets of photos with the keywords photoscribe gives them, for checking by eye.

Keyword precision (issue 18) is measured by looking: each sheet shows 20 photos, each with its
keywords and their probabilities underneath, and a person marks the keywords that are wrong.
The list of photos and keywords is also written as JSON, so the judgement can be recorded
next to it (docs/keywords.md). Usage::

    python scripts/keyword_sheets.py MODEL.pt PHOTO... --out DIR [--threshold T] [--per-sheet 20]
"""

from __future__ import annotations

import argparse
import json
import textwrap
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from photoscribe.core.captioning.captioner import Captioner

TILE, TEXT_H = 256, 84


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("photos", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--threshold", type=float)
    parser.add_argument("--per-sheet", type=int, default=20)
    parser.add_argument("--columns", type=int, default=5)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    cap = Captioner.load(args.checkpoint, workers=1, processes=False, keyword_threshold=args.threshold)
    report = cap.caption_paths(args.photos)
    rows = [
        {
            "photo": r.path.name,
            "caption": r.text,
            "confidence": r.confidence,
            "keywords": [[k.word, round(k.score, 3)] for k in r.keywords],
        }
        for r in report.results
    ]
    (args.out / "keywords.json").write_text(json.dumps(rows, indent=1), "utf-8")
    font = ImageFont.load_default(size=13)
    by_name = {p.name: p for p in args.photos}
    for sheet_no, lo in enumerate(range(0, len(rows), args.per_sheet)):
        chunk = rows[lo : lo + args.per_sheet]
        n_rows = -(-len(chunk) // args.columns)
        sheet = Image.new("RGB", (args.columns * TILE, n_rows * (TILE + TEXT_H)), "white")
        draw = ImageDraw.Draw(sheet)
        for i, row in enumerate(chunk):
            x, y = (i % args.columns) * TILE, (i // args.columns) * (TILE + TEXT_H)
            with Image.open(by_name[row["photo"]]) as im:
                sheet.paste(im.convert("RGB").resize((TILE - 4, TILE - 4)), (x + 2, y + 2))
            words = ", ".join(f"{w} {s:.2f}" for w, s in row["keywords"]) or "(no keywords)"
            text = f"#{lo + i + 1}: " + words
            draw.multiline_text(
                (x + 3, y + TILE), "\n".join(textwrap.wrap(text, 36)[:5]), fill="black", font=font
            )
        sheet.save(args.out / f"sheet_{sheet_no + 1:02d}.png")
    print(f"{len(rows)} photos, {sum(len(r['keywords']) for r in rows)} keywords; sheets in {args.out}")


if __name__ == "__main__":
    main()
