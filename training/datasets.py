"""Caption data sets on disk, auto-detected from a folder.

Supported layouts (the folder itself and its sub-folders one level down are searched):

* Flickr30k as on Kaggle: ``results.csv`` (``image_name| comment_number| comment``), or the
  original ``results_20130124.token`` (``image.jpg#0<TAB>caption``); tab and comma variants too.
* Flickr8k: ``Flickr8k.token.txt`` or the Kaggle ``captions.txt`` (``image,caption``).
* COCO: ``annotations/captions_{train,val}{2014,2017}.json`` with ``train2017/`` etc. next to it.
* Karpathy split files (``dataset_flickr30k.json``, ``dataset_flickr8k.json``, ``dataset_coco.json``):
  when present they define both the captions and the train/val/test split; otherwise images
  (never captions) are split 80/10/10 with a seeded shuffle of the sorted image ids.

Rows that cannot be parsed are reported as ``file:line: reason`` and skipped; a file that is
not text, or has no recognisable header, raises :class:`DataError`.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import random
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from photoscribe.core.errors import DataError
from photoscribe.core.model.vocab import DEFAULT_MAX_LEN, Vocabulary

logger = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
FORMATS = {
    "karpathy": "Karpathy split JSON",
    "coco": "COCO captions JSON",
    "flickr30k": "Flickr30k caption table",
    "flickr8k": "Flickr8k caption table",
}
KARPATHY_FILES = (
    "dataset_flickr30k.json",
    "dataset_flickr8k.json",
    "dataset_coco.json",
    "dataset_library.json",  # the photo library's reviewed captions (training/library_data.py)
)
# Caption files in order of preference, with the data set each one belongs to.
_TABLE_FILES = (
    ("results.csv", "flickr30k"),
    ("results_20130124.token", "flickr30k"),
    ("results.token", "flickr30k"),
    ("Flickr8k.token.txt", "flickr8k"),
    ("captions.txt", "flickr8k"),
)
IMAGE_DIR_NAMES = (
    "Images",
    "images",
    "flickr30k_images",
    "flickr30k-images",
    "Flicker8k_Dataset",
    "Flickr8k_Dataset",
    "train2014",
    "val2014",
    "train2017",
    "val2017",
)
_EXAMPLES_SHOWN = 5

_TOKEN_LINE = re.compile(r"^(?P<name>[^\t#]+\.\w+)(?:#\d+)?\t(?P<caption>.*)$")
_MERGED_NUMBER = re.compile(r"^\s*(\d+)\s+(\S.*)$")
_IMAGE_COLUMNS = {"image_name", "image", "image_id", "filename", "file_name", "image_file", "img"}
_CAPTION_COLUMNS = {"comment", "caption", "captions", "sentence", "text", "description"}
_NUMBER_COLUMNS = {"comment_number", "caption_number", "caption_id", "number"}


@dataclass(frozen=True)
class ImageRecord:
    """One image with all its captions; ``split`` is "train", "val" or "test"."""

    image_id: str
    path: Path
    captions: tuple[str, ...]
    split: str


@dataclass
class CaptionCorpus:
    """A loaded caption data set plus everything that went wrong while reading it."""

    name: str
    root: Path
    records: list[ImageRecord]
    missing_images: list[str] = field(default_factory=list)
    dropped_captions: int = 0
    bad_rows: list[str] = field(default_factory=list)
    split_source: str = "given"
    format: str = ""
    caption_files: tuple[Path, ...] = ()

    def split(self, name: str) -> list[ImageRecord]:
        if name not in SPLITS:
            raise ValueError(f"unknown split {name!r}; choose one of {', '.join(SPLITS)}")
        return [r for r in self.records if r.split == name]

    @property
    def n_captions(self) -> int:
        return sum(len(r.captions) for r in self.records)

    def summary(self) -> str:
        """One paragraph for the user: what was found, how it is split and what was skipped."""
        counts = Counter(r.split for r in self.records)
        files = ", ".join(_relative(p, self.root) for p in self.caption_files) or "?"
        parts = [
            f"Data set {self.name} in {self.root} ({FORMATS.get(self.format, 'captions')} {files}): "
            f"{len(self.records)} images with {self.n_captions} captions, split {self.split_source} "
            f"into train {counts['train']}, val {counts['val']}, test {counts['test']} images."
        ]
        if self.missing_images:
            shown = ", ".join(self.missing_images[:_EXAMPLES_SHOWN])
            more = ", ..." if len(self.missing_images) > _EXAMPLES_SHOWN else ""
            parts.append(
                f"{len(self.missing_images)} listed images are missing and were skipped ({shown}{more})."
            )
        else:
            parts.append("No images are missing.")
        if self.dropped_captions:
            parts.append(f"{self.dropped_captions} empty captions were dropped.")
        if self.bad_rows:
            parts.append(f"{len(self.bad_rows)} unparseable rows were skipped (first: {self.bad_rows[0]}).")
        else:
            parts.append("No unparseable rows.")
        return " ".join(parts)


@dataclass(frozen=True)
class _Layout:
    format: str  # one of FORMATS
    name: str  # "flickr30k", "flickr8k", "coco"
    files: tuple[Path, ...]


@dataclass
class _RawImage:
    file_name: str
    base: Path  # folder of the caption file that listed it
    hint: str  # image folder named by the caption file ("train2017"), or ""
    captions: list[str] = field(default_factory=list)
    split: str | None = None  # set by Karpathy files


@dataclass
class _Parsed:
    images: dict[str, _RawImage] = field(default_factory=dict)
    bad_rows: list[str] = field(default_factory=list)
    dropped: int = 0

    def add(self, image_id: str, file_name: str, base: Path, caption: str, hint: str = "") -> None:
        raw = self.images.get(image_id)
        if raw is None:
            raw = self.images[image_id] = _RawImage(file_name, base, hint)
        text = " ".join(caption.split())
        if text:
            raw.captions.append(text)
        else:
            self.dropped += 1


def _search_dirs(root: Path) -> list[Path]:
    subdirs = sorted((p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")), key=str)
    return [root, *subdirs]


def _find_layout(root: Path) -> _Layout:
    if not root.is_dir():
        raise DataError(f"{root} is not a folder; point at the folder that holds the data set")
    dirs = _search_dirs(root)
    for d in dirs:
        for name in KARPATHY_FILES:
            if (d / name).is_file():
                return _Layout("karpathy", _karpathy_name(d / name), (d / name,))
    for d in dirs:
        coco = sorted((d / "annotations").glob("captions_*.json")) + sorted(d.glob("captions_*.json"))
        if coco:
            return _Layout("coco", "coco", _one_coco_release(coco))
    for name, dataset in _TABLE_FILES:
        for d in dirs:
            if (d / name).is_file():
                # `photoscribe data synth` writes the Flickr30k layout plus shapes.json: name it for what it is.
                shown = "synthetic shapes" if (d / "shapes.json").is_file() else dataset
                return _Layout(dataset, shown, (d / name,))
    looked_for = [
        f"{' / '.join(KARPATHY_FILES)} (Karpathy splits)",
        "annotations/captions_*.json (COCO)",
        "results.csv / results_20130124.token (Flickr30k)",
        "Flickr8k.token.txt / captions.txt (Flickr8k)",
    ]
    raise DataError(
        f"No caption data set found in {root} or its sub-folders. Looked for: {'; '.join(looked_for)}."
    )


_COCO_YEAR = re.compile(r"captions_[a-z]+(\d{4})\.json")


def _one_coco_release(files: list[Path]) -> tuple[Path, ...]:
    """The caption files of one COCO release: 2014 and 2017 hold the same photos and captions
    (2017 re-splits 2014), so reading both would list every caption twice. The newest wins."""
    years = {m.group(1) for f in files if (m := _COCO_YEAR.fullmatch(f.name))}
    if len(years) <= 1:
        return tuple(files)
    newest = max(years)
    kept = tuple(f for f in files if (m := _COCO_YEAR.fullmatch(f.name)) is None or m.group(1) == newest)
    logger.info(
        "COCO caption files of %s found: reading only the %s release (%s)",
        " and ".join(sorted(years)),
        newest,
        ", ".join(f.name for f in kept),
    )
    return kept


# Flickr8k's standard split lists (Hodosh et al. 2013): 6,000 train, 1,000 dev, 1,000 test images.
FLICKR8K_SPLIT_FILES = {
    "train": "Flickr_8k.trainImages.txt",
    "val": "Flickr_8k.devImages.txt",
    "test": "Flickr_8k.testImages.txt",
}


def _flickr8k_splits(folders: Iterable[Path]) -> tuple[dict[str, str], Path] | None:
    """file name -> split from the standard split lists in the first of ``folders`` holding them."""
    for folder in folders:
        if all((folder / name).is_file() for name in FLICKR8K_SPLIT_FILES.values()):
            splits: dict[str, str] = {}
            for split, name in FLICKR8K_SPLIT_FILES.items():
                for line in (folder / name).read_text("utf-8", errors="replace").splitlines():
                    if line.strip():
                        splits[line.strip()] = split
            return splits, folder
    return None


def _karpathy_name(path: Path) -> str:
    m = re.fullmatch(r"dataset_(\w+)\.json", path.name)
    return m.group(1) if m else path.stem


def load_corpus(root: Path, *, seed: int = 0, karpathy_json: Path | None = None) -> CaptionCorpus:
    """Load the data set in ``root`` (see the module docstring for the layouts).

    Args:
        root: the data set folder.
        seed: seeds the 80/10/10 split by image when there is no Karpathy split file.
        karpathy_json: a Karpathy ``dataset_*.json`` kept elsewhere; it then defines the
            captions and the split, and images are looked up under ``root``.

    Raises:
        DataError: unknown layout, undecodable or headerless file, or no image found at all.
    """
    root = Path(root)
    if karpathy_json is not None:
        if not root.is_dir():
            raise DataError(f"{root} is not a folder; point at the folder that holds the images")
        layout = _Layout("karpathy", _karpathy_name(Path(karpathy_json)), (Path(karpathy_json),))
    else:
        layout = _find_layout(root)
    parsed = _parse_layout(layout)
    listed = {k: v for k, v in parsed.images.items() if v.captions}
    if not listed:
        raise DataError(f"{', '.join(map(str, layout.files))} lists no captions; is it the right file?")

    listed, splits, split_source = _assign_splits(root, layout, listed, seed)

    paths = _resolve_images(root, listed)
    records: list[ImageRecord] = []
    missing: list[str] = []
    for image_id, raw in listed.items():
        image_path = paths.get(image_id)
        if image_path is None:
            missing.append(f"{raw.hint}/{raw.file_name}" if raw.hint else raw.file_name)
            continue
        records.append(ImageRecord(image_id, image_path, tuple(raw.captions), splits[image_id]))
    if not records:
        raise DataError(
            f"None of the {len(listed)} images listed in {layout.files[0]} were found under {root} "
            f"(looked in the caption file's folder, {root} and their sub-folders "
            f"{', '.join(IMAGE_DIR_NAMES)}); download the images or point at the right folder"
        )
    if missing:
        logger.warning(
            "%d of %d images listed in %s are missing and were skipped (first: %s)",
            len(missing),
            len(listed),
            layout.files[0].name,
            ", ".join(missing[:_EXAMPLES_SHOWN]),
        )
    return CaptionCorpus(
        name=layout.name,
        root=root,
        records=records,
        missing_images=missing,
        dropped_captions=parsed.dropped,
        bad_rows=parsed.bad_rows,
        split_source=split_source,
        format=layout.format,
        caption_files=layout.files,
    )


def _parse_layout(layout: _Layout) -> _Parsed:
    """The images and captions the layout's caption files list."""
    if layout.format == "karpathy":
        return _parse_karpathy(layout.files[0])
    parsed = _Parsed()
    if layout.format == "coco":
        for path in layout.files:
            _parse_coco(path, parsed)
    else:
        _parse_table(layout.files[0], parsed)
    return parsed


def _assign_splits(
    root: Path, layout: _Layout, listed: dict[str, _RawImage], seed: int
) -> tuple[dict[str, _RawImage], dict[str, str], str]:
    """Each image's split: Karpathy's, else Flickr8k's standard lists, else a seeded 80/10/10.

    Returns the images kept (the standard lists leave out images they do not name), their splits
    and where the splits came from, in words.
    """
    if layout.format == "karpathy":
        return listed, {k: v.split or "train" for k, v in listed.items()}, "karpathy"
    standard = None
    if layout.format == "flickr8k":
        standard = _flickr8k_splits(dict.fromkeys([layout.files[0].parent, root]))
    if standard is None:
        return listed, random_split(listed, seed), f"random-80/10/10 seed {seed}"
    by_name, folder = standard
    unlisted = [k for k, v in listed.items() if v.file_name not in by_name]
    if unlisted:
        logger.info("%d images are in none of the standard Flickr8k split lists: left out", len(unlisted))
    listed = {k: v for k, v in listed.items() if v.file_name in by_name}
    splits = {k: by_name[v.file_name] for k, v in listed.items()}
    return listed, splits, f"by the standard Flickr8k split lists in {folder.name or folder}"


def random_split(image_ids: Iterable[str], seed: int) -> dict[str, str]:
    """Assign each image to train/val/test 80/10/10, deterministic given ``seed`` and the ids.

    The ids are sorted first, so the order in which a caption file lists them does not matter.
    Small sets still get one val and one test image from three images up.
    """
    order = sorted(image_ids)
    random.Random(seed).shuffle(order)
    n = len(order)
    n_held = max(1, int(n * 0.1 + 0.5)) if n >= 3 else 0
    out = dict.fromkeys(order[2 * n_held :], "train")
    out.update(dict.fromkeys(order[:n_held], "val"))
    out.update(dict.fromkeys(order[n_held : 2 * n_held], "test"))
    return out


def _resolve_images(root: Path, images: dict[str, _RawImage]) -> dict[str, Path]:
    """Find each image's file; the folder holding most of a group's images wins."""
    groups: dict[tuple[Path, str], list[str]] = {}
    for image_id, raw in images.items():
        groups.setdefault((raw.base, raw.hint), []).append(image_id)
    listings: dict[Path, set[str]] = {}
    found: dict[str, Path] = {}
    for (base, hint), ids in groups.items():
        best_dir, best_hits = None, 0
        for d in _candidate_dirs(root, base, hint):
            if d not in listings:
                listings[d] = set(os.listdir(d))
            hits = sum(images[i].file_name in listings[d] for i in ids)
            if hits > best_hits:
                best_dir, best_hits = d, hits
        if best_dir is None:
            continue
        for i in ids:
            if images[i].file_name in listings[best_dir]:
                found[i] = best_dir / images[i].file_name
    return found


def _candidate_dirs(root: Path, base: Path, hint: str) -> list[Path]:
    names = [hint, *IMAGE_DIR_NAMES] if hint else list(IMAGE_DIR_NAMES)
    out: list[Path] = []
    for b in dict.fromkeys([base, root]):
        out += [b / n for n in names] + [b / n / n for n in names] + [b]
        if hint:
            out.append(b / "images" / hint)
    return [d for d in dict.fromkeys(out) if d.is_dir()]


def _decode(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as err:
        raise DataError(f"{path}: cannot read the file ({err.strerror})") from err
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise DataError(
            f"{path}:{line}: not UTF-8 text (byte {data[err.start]:#04x}); is this the caption file?"
        ) from err


def _load_json(path: Path) -> object:
    try:
        return json.loads(_decode(path))
    except json.JSONDecodeError as err:
        raise DataError(f"{path}:{err.lineno}: invalid JSON ({err.msg})") from err


def _parse_table(path: Path, parsed: _Parsed) -> None:
    """Flickr-style caption tables: token lines, or a header row with ``|``, tab or comma fields."""
    lines = [ln.rstrip("\r") for ln in _decode(path).split("\n")]
    first = next((i for i, ln in enumerate(lines) if ln.strip()), None)
    if first is None:
        raise DataError(f"{path}:1: the file is empty")
    base = path.parent
    if _TOKEN_LINE.match(lines[first]):
        for lineno, line in enumerate(lines[first:], start=first + 1):
            if not line.strip():
                continue
            m = _TOKEN_LINE.match(line)
            if m is None:
                parsed.bad_rows.append(f"{path.name}:{lineno}: expected 'image.jpg#n<TAB>caption'")
                continue
            parsed.add(m["name"].strip(), m["name"].strip(), base, m["caption"])
        return

    header = lines[first]
    delim = "|" if "|" in header else "\t" if "\t" in header else ","
    columns = [c.strip().lower() for c in _split(header, delim)]
    img_col = next((i for i, c in enumerate(columns) if c in _IMAGE_COLUMNS), None)
    cap_col = next((i for i, c in enumerate(columns) if c in _CAPTION_COLUMNS), None)
    num_col = next((i for i, c in enumerate(columns) if c in _NUMBER_COLUMNS), None)
    if img_col is None or cap_col is None:
        raise DataError(
            f"{path}:{first + 1}: unrecognised header {header[:80]!r}; expected "
            "'image_name| comment_number| comment', 'image,caption' or 'image.jpg#0<TAB>caption' lines"
        )
    n_cols = len(columns)
    for lineno, line in enumerate(lines[first + 1 :], start=first + 2):
        if not line.strip():
            continue
        try:
            fields = _split(line, delim)
        except csv.Error as err:
            parsed.bad_rows.append(f"{path.name}:{lineno}: {err}")
            continue
        if len(fields) > n_cols and cap_col == n_cols - 1:
            # The caption is the last column and contains the separator: split on the first ones only.
            fields = [*fields[:cap_col], delim.join(fields[cap_col:])]
        elif len(fields) == n_cols - 1 and num_col is not None and num_col == cap_col - 1 == n_cols - 2:
            # Kaggle Flickr30k line 19999: "2199200615.jpg| 4 A dog runs ..." (number and caption merged).
            m = _MERGED_NUMBER.match(fields[num_col])
            if m:
                logger.info("%s:%d: recovered a row whose number and caption were merged", path.name, lineno)
                fields = [*fields[:num_col], m[1], m[2]]
        if len(fields) != n_cols:
            parsed.bad_rows.append(
                f"{path.name}:{lineno}: expected {n_cols} fields separated by {delim!r}, found {len(fields)}"
            )
            continue
        if num_col is not None and not fields[num_col].strip().isdigit():
            parsed.bad_rows.append(
                f"{path.name}:{lineno}: {columns[num_col]} {fields[num_col]!r} is not a number"
            )
            continue
        name = fields[img_col].strip().split("#", 1)[0]
        if not name:
            parsed.bad_rows.append(f"{path.name}:{lineno}: empty image name")
            continue
        parsed.add(name, name, base, fields[cap_col])


def _split(line: str, delim: str) -> list[str]:
    if delim == ",":
        return next(csv.reader([line]))
    return line.split(delim)


def _parse_coco(path: Path, parsed: _Parsed) -> None:
    data = _load_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise DataError(f"{path}:1: not a COCO captions file (needs 'images' and 'annotations' lists)")
    annotations = data.get("annotations")
    if not isinstance(annotations, list):
        raise DataError(f"{path}:1: not a COCO captions file (needs 'images' and 'annotations' lists)")
    m = re.fullmatch(r"captions_(\w+)\.json", path.name)
    hint = m.group(1) if m else ""
    base = path.parent.parent if path.parent.name == "annotations" else path.parent
    files: dict[str, str] = {}
    for i, img in enumerate(data["images"]):
        if not isinstance(img, dict) or "id" not in img or not isinstance(img.get("file_name"), str):
            parsed.bad_rows.append(f"{path.name}:images[{i}]: needs 'id' and 'file_name'")
            continue
        files[str(img["id"])] = img["file_name"]
    for i, ann in enumerate(annotations):
        if not isinstance(ann, dict) or not isinstance(ann.get("caption"), str):
            parsed.bad_rows.append(f"{path.name}:annotations[{i}]: needs 'image_id' and 'caption'")
            continue
        image_id = str(ann.get("image_id"))
        if image_id not in files:
            parsed.bad_rows.append(f"{path.name}:annotations[{i}]: unknown image_id {image_id}")
            continue
        parsed.add(image_id, files[image_id], base, ann["caption"], hint)


def _parse_karpathy(path: Path) -> _Parsed:
    data = _load_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise DataError(f"{path}:1: not a Karpathy split file (needs an 'images' list)")
    parsed = _Parsed()
    for i, entry in enumerate(data["images"]):
        where = f"{path.name}:images[{i}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("filename"), str):
            parsed.bad_rows.append(f"{where}: needs 'filename'")
            continue
        split = {"restval": "train"}.get(entry.get("split", ""), entry.get("split", ""))
        if split not in SPLITS:
            parsed.bad_rows.append(f"{where}: unknown split {entry.get('split')!r}")
            continue
        image_id = str(entry["cocoid"]) if "cocoid" in entry else entry["filename"]
        hint = str(entry.get("filepath", ""))
        for sentence in _sentences(entry.get("sentences")):
            parsed.add(image_id, entry["filename"], path.parent, sentence, hint)
        if image_id in parsed.images:
            parsed.images[image_id].split = split
    return parsed


def _sentences(value: object) -> list[str]:
    """Karpathy ``sentences``: the ``raw`` text, else the joined ``tokens``."""
    out = []
    for s in value if isinstance(value, list) else []:
        raw, tokens = (s.get("raw"), s.get("tokens")) if isinstance(s, dict) else (s, None)
        out.append(
            raw if isinstance(raw, str) else " ".join(map(str, tokens)) if isinstance(tokens, list) else ""
        )
    return out


def build_vocabulary(corpus: CaptionCorpus, min_freq: int = 5, max_len: int = DEFAULT_MAX_LEN) -> Vocabulary:
    """Build the word vocabulary from the train split only; ``.stats`` holds size and coverage."""
    train = corpus.split("train")
    if not train:
        raise DataError(f"{corpus.name} in {corpus.root} has no training images; cannot build a vocabulary")
    return Vocabulary.build((c for r in train for c in r.captions), min_freq=min_freq, max_len=max_len)


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)
