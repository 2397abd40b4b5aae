"""Caption data set loaders: each layout parsed from a small fixture in its real on-disk format."""

from __future__ import annotations

import io
import json
import logging
import random
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from photoscribe.core.errors import DataError
from photoscribe.training.datasets import (
    CaptionCorpus,
    ImageRecord,
    build_vocabulary,
    load_corpus,
    random_split,
)
from tests.helpers import SHARED_DATA

_JPEG = io.BytesIO()
Image.new("RGB", (4, 4), (200, 100, 50)).save(_JPEG, format="JPEG")


def _images(folder: Path, names: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(_JPEG.getvalue())


def _captions_by_id(corpus: CaptionCorpus) -> dict[str, tuple[str, ...]]:
    return {r.image_id: r.captions for r in corpus.records}


# --------------------------------------------------------------------------- Flickr30k


KAGGLE_RESULTS = """\
image_name| comment_number| comment
1000092795.jpg| 0| Two young guys with shaggy hair look at their hands while hanging out in the yard .
1000092795.jpg| 1| Two young , White males are outside near many bushes .
2199200615.jpg| 0| A dog runs .
2199200615.jpg| 1| A brown dog is running .
2199200615.jpg| 2| A dog on grass .
2199200615.jpg| 3| The dog is running through a field .
2199200615.jpg| 4 A dog runs across the grass .
3000000000.jpg| 0| A caption with a | pipe inside .
this line is garbage
3000000000.jpg| x| number is not a number
"""


def test_flickr30k_kaggle_pipe_format_recovers_the_merged_row(tmp_path: Path) -> None:
    # Kaggle layout: flickr30k_images/results.csv and flickr30k_images/flickr30k_images/*.jpg
    top = tmp_path / "flickr30k_images"
    top.mkdir()
    (top / "results.csv").write_text(KAGGLE_RESULTS, encoding="utf-8")
    _images(top / "flickr30k_images", ["1000092795.jpg", "2199200615.jpg", "3000000000.jpg"])

    corpus = load_corpus(tmp_path)
    assert corpus.format == "flickr30k"

    assert corpus.name == "flickr30k"
    caps = _captions_by_id(corpus)
    assert caps["1000092795.jpg"][1] == "Two young , White males are outside near many bushes ."
    assert len(caps["2199200615.jpg"]) == 5
    assert caps["2199200615.jpg"][4] == "A dog runs across the grass ."
    assert caps["3000000000.jpg"] == ("A caption with a | pipe inside .",)
    assert corpus.bad_rows[0].startswith("results.csv:10: ")
    assert corpus.bad_rows[1].startswith("results.csv:11: ")
    assert len(corpus.bad_rows) == 2
    record = next(r for r in corpus.records if r.image_id == "2199200615.jpg")
    assert record.path == top / "flickr30k_images" / "2199200615.jpg"
    assert corpus.missing_images == []


def test_flickr30k_token_file(tmp_path: Path) -> None:
    lines = [f"{i}.jpg#{k}\tcaption {k} of image {i} ." for i in range(1, 4) for k in range(5)]
    (tmp_path / "results_20130124.token").write_text("\n".join(lines) + "\n", encoding="utf-8")
    _images(tmp_path / "flickr30k-images", ["1.jpg", "2.jpg", "3.jpg"])

    corpus = load_corpus(tmp_path)

    assert corpus.name == "flickr30k"
    assert sorted(_captions_by_id(corpus)) == ["1.jpg", "2.jpg", "3.jpg"]
    assert _captions_by_id(corpus)["2.jpg"][3] == "caption 3 of image 2 ."
    assert corpus.bad_rows == []


def test_results_csv_tab_and_comma_variants(tmp_path: Path) -> None:
    tab = tmp_path / "tab"
    tab.mkdir()
    (tab / "results.csv").write_text("a.jpg#0\tA cat .\na.jpg#1\tA black cat .\n", encoding="utf-8")
    _images(tab, ["a.jpg"])
    assert _captions_by_id(load_corpus(tab)) == {"a.jpg": ("A cat .", "A black cat .")}

    comma = tmp_path / "comma"
    comma.mkdir()
    (comma / "results.csv").write_text(
        'image_name,comment_number,comment\na.jpg,0,"A cat, sitting ."\na.jpg,1,A dog, a cat .\n',
        encoding="utf-8",
    )
    _images(comma / "Images", ["a.jpg"])
    assert _captions_by_id(load_corpus(comma)) == {"a.jpg": ("A cat, sitting .", "A dog, a cat .")}


# --------------------------------------------------------------------------- Flickr8k


def test_flickr8k_kaggle_captions_txt_with_commas(tmp_path: Path) -> None:
    text = (
        "image,caption\r\n"
        "1000268201_693b08cb0e.jpg,A child in a pink dress is climbing up a set of stairs .\r\n"
        '1012212859_01547e3f17.jpg,"A dog shakes its head near the shore , a red ball next to it ."\r\n'
        '1253275679_e955fb7304.jpg,"Young boy with a black "" ADHD "" t-shirt nodding off"\r\n'
        "1253275679_e955fb7304.jpg,A boy, a girl, and a dog .\r\n"
    )
    (tmp_path / "captions.txt").write_text(text, encoding="utf-8", newline="")
    _images(
        tmp_path / "Images",
        ["1000268201_693b08cb0e.jpg", "1012212859_01547e3f17.jpg", "1253275679_e955fb7304.jpg"],
    )

    corpus = load_corpus(tmp_path)
    assert corpus.format == "flickr8k"
    caps = _captions_by_id(corpus)

    assert caps["1012212859_01547e3f17.jpg"] == (
        "A dog shakes its head near the shore , a red ball next to it .",
    )
    assert caps["1253275679_e955fb7304.jpg"] == (
        'Young boy with a black " ADHD " t-shirt nodding off',
        "A boy, a girl, and a dog .",
    )
    assert caps["1000268201_693b08cb0e.jpg"][0].endswith("stairs .")  # no stray \r


def test_flickr8k_token_file_with_dataset_folder(tmp_path: Path) -> None:
    lines = [f"img{i}.jpg#{k}\tphoto {i} caption {k}" for i in range(3) for k in range(5)]
    lines.append("2258277193_586949ec62.jpg.1#0\tthe famous entry without an image")
    (tmp_path / "Flickr8k.token.txt").write_text("\n".join(lines), encoding="utf-8")
    _images(tmp_path / "Flicker8k_Dataset", ["img0.jpg", "img1.jpg", "img2.jpg"])

    corpus = load_corpus(tmp_path)

    assert corpus.name == "flickr8k"
    assert len(corpus.records) == 3
    assert all(len(r.captions) == 5 for r in corpus.records)
    assert corpus.missing_images == ["2258277193_586949ec62.jpg.1"]


# --------------------------------------------------------------------------- COCO


def _coco(path: Path, images: dict[int, str], captions: list[tuple[int, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "info": {"description": "test"},
        "images": [{"id": i, "file_name": f, "width": 4, "height": 4} for i, f in images.items()],
        "annotations": [{"id": n, "image_id": i, "caption": c} for n, (i, c) in enumerate(captions)],
    }
    path.write_text(json.dumps(data), encoding="utf-8")


def test_coco_json_finds_images_in_the_folder_named_by_the_file(tmp_path: Path) -> None:
    _coco(
        tmp_path / "annotations" / "captions_train2017.json",
        {9: "000000000009.jpg", 25: "000000000025.jpg"},
        [(9, "A plate of food."), (25, "A giraffe."), (9, "Broccoli and meat."), (25, "  ")],
    )
    _coco(tmp_path / "annotations" / "captions_val2017.json", {139: "000000000139.jpg"}, [(139, "A room.")])
    _images(tmp_path / "train2017", ["000000000009.jpg", "000000000025.jpg"])
    _images(tmp_path / "val2017", ["000000000139.jpg"])
    (tmp_path / "manifest.csv").write_text("path,captions\n", encoding="utf-8")  # not a caption file

    corpus = load_corpus(tmp_path)
    assert corpus.format == "coco"

    caps = _captions_by_id(corpus)
    assert caps == {
        "9": ("A plate of food.", "Broccoli and meat."),
        "25": ("A giraffe.",),
        "139": ("A room.",),
    }
    paths = {r.image_id: r.path for r in corpus.records}
    assert paths["9"] == tmp_path / "train2017" / "000000000009.jpg"
    assert paths["139"] == tmp_path / "val2017" / "000000000139.jpg"
    assert corpus.dropped_captions == 1


def test_coco_2014_and_2017_files_together_load_each_caption_once(tmp_path: Path) -> None:
    """COCO 2017 re-splits the 2014 photos: with both releases present only the newest is read."""
    names = {9: "000000000009.jpg", 139: "000000000139.jpg"}
    caps = [(9, "A plate of food."), (139, "A room.")]
    for year in ("2014", "2017"):
        _coco(tmp_path / "annotations" / f"captions_train{year}.json", {9: names[9]}, caps[:1])
        _coco(tmp_path / "annotations" / f"captions_val{year}.json", {139: names[139]}, caps[1:])
        _images(tmp_path / f"train{year}", [names[9]])
        _images(tmp_path / f"val{year}", [names[139]])
    corpus = load_corpus(tmp_path)
    assert _captions_by_id(corpus) == {"9": ("A plate of food.",), "139": ("A room.",)}
    assert {p.name for p in corpus.caption_files} == {"captions_train2017.json", "captions_val2017.json"}
    assert {r.path.parent.name for r in corpus.records} == {"train2017", "val2017"}


# --------------------------------------------------------------------------- Karpathy


def _karpathy(path: Path, entries: list[tuple[str, str, list[str]]], dataset: str = "flickr8k") -> None:
    images = [
        {
            "filename": name,
            "imgid": n,
            "split": split,
            "sentences": [{"raw": s, "tokens": s.lower().split()} for s in sents],
        }
        for n, (name, split, sents) in enumerate(entries)
    ]
    path.write_text(json.dumps({"dataset": dataset, "images": images}), encoding="utf-8")


def test_karpathy_json_defines_splits_and_captions(tmp_path: Path) -> None:
    entries = [
        ("a.jpg", "train", ["a train photo"]),
        ("b.jpg", "restval", ["a restval photo"]),
        ("c.jpg", "val", ["a val photo"]),
        ("d.jpg", "test", ["a test photo", "another test caption"]),
    ]
    _karpathy(tmp_path / "dataset_flickr8k.json", entries)
    # A native caption file is present too; the Karpathy file wins.
    (tmp_path / "captions.txt").write_text("image,caption\na.jpg,native caption\n", encoding="utf-8")
    _images(tmp_path / "Images", ["a.jpg", "b.jpg", "c.jpg", "d.jpg"])

    corpus = load_corpus(tmp_path, seed=123)
    assert corpus.format == "karpathy"

    assert corpus.name == "flickr8k"
    assert corpus.split_source == "karpathy"
    assert {r.image_id: r.split for r in corpus.records} == {
        "a.jpg": "train",
        "b.jpg": "train",
        "c.jpg": "val",
        "d.jpg": "test",
    }
    assert _captions_by_id(corpus)["a.jpg"] == ("a train photo",)
    assert _captions_by_id(corpus)["d.jpg"] == ("a test photo", "another test caption")


def test_karpathy_json_passed_explicitly(tmp_path: Path) -> None:
    lines = [f"{n}.jpg| {k}| caption {k}" for n in ("x", "y") for k in range(2)]
    (tmp_path / "results.csv").write_text("image_name| comment_number| comment\n" + "\n".join(lines))
    _images(tmp_path / "flickr30k_images", ["x.jpg", "y.jpg"])
    split_file = tmp_path.parent / f"{tmp_path.name}-dataset_flickr30k.json"
    _karpathy(
        split_file, [("x.jpg", "test", ["karpathy x"]), ("y.jpg", "train", ["karpathy y"])], "flickr30k"
    )

    corpus = load_corpus(tmp_path, karpathy_json=split_file)

    assert corpus.split_source == "karpathy"
    assert {r.image_id: (r.split, r.captions) for r in corpus.records} == {
        "x.jpg": ("test", ("karpathy x",)),
        "y.jpg": ("train", ("karpathy y",)),
    }


# --------------------------------------------------------------------------- random split


def _flickr8k_folder(root: Path, n_images: int, rows_order_seed: int | None = None) -> None:
    rows = [(f"{i:04d}.jpg", f"photo {i} caption {k}") for i in range(n_images) for k in range(5)]
    if rows_order_seed is not None:
        random.Random(rows_order_seed).shuffle(rows)
    text = "image,caption\n" + "".join(f"{name},{cap}\n" for name, cap in rows)
    root.mkdir(parents=True, exist_ok=True)
    (root / "captions.txt").write_text(text, encoding="utf-8")
    _images(root / "Images", [f"{i:04d}.jpg" for i in range(n_images)])


def test_random_split_is_by_image_deterministic_and_80_10_10(tmp_path: Path) -> None:
    _flickr8k_folder(tmp_path / "a", 200)
    _flickr8k_folder(tmp_path / "b", 200, rows_order_seed=7)  # same data, rows shuffled

    first = load_corpus(tmp_path / "a", seed=3)
    again = load_corpus(tmp_path / "a", seed=3)
    shuffled_rows = load_corpus(tmp_path / "b", seed=3)
    other_seed = load_corpus(tmp_path / "a", seed=4)

    def splits(c: CaptionCorpus) -> dict[str, str]:
        return {r.image_id: r.split for r in c.records}

    assert first.split_source == "random-80/10/10 seed 3"
    # By image: every image is in exactly one split, with all five of its captions.
    assert len(first.records) == 200
    assert all(len(r.captions) == 5 for r in first.records)
    assert Counter(splits(first).values()) == {"train": 160, "val": 20, "test": 20}
    assert splits(first) == splits(again) == splits(shuffled_rows)
    assert splits(first) != splits(other_seed)
    assert {r.image_id for r in first.split("val")}.isdisjoint(r.image_id for r in first.split("train"))


def test_flickr8k_standard_split_lists_define_train_dev_and_test(tmp_path: Path) -> None:
    """With Flickr_8k.{train,dev,test}Images.txt in the folder, they define the split ("dev" is val);
    images in no list are left out, and a listed test photo never reaches train."""
    _flickr8k_folder(tmp_path, 10)
    lists = {"train": [0, 1, 2, 3, 4, 5], "dev": [6, 7], "test": [8]}  # 0009.jpg is in no list
    for name, ids in lists.items():
        (tmp_path / f"Flickr_8k.{name}Images.txt").write_text("".join(f"{i:04d}.jpg\n" for i in ids))
    corpus = load_corpus(tmp_path, seed=3)
    by_split = {s: sorted(r.image_id for r in corpus.split(s)) for s in ("train", "val", "test")}
    assert by_split == {
        "train": [f"{i:04d}.jpg" for i in lists["train"]],
        "val": ["0006.jpg", "0007.jpg"],
        "test": ["0008.jpg"],
    }
    assert "standard Flickr8k split lists" in corpus.summary()


@pytest.mark.slow
@pytest.mark.skipif(not (SHARED_DATA / "flickr8k").is_dir(), reason="../shared/data/flickr8k not present")
def test_shared_flickr8k_copy_splits_into_the_standard_5997_train_and_1000_dev_photos() -> None:
    corpus = load_corpus(SHARED_DATA / "flickr8k")
    test_names = set((SHARED_DATA / "flickr8k" / "Flickr_8k.testImages.txt").read_text().split())
    assert len(corpus.split("train")) == 5997 and len(corpus.split("val")) == 1000
    assert not test_names & {r.path.name for r in corpus.records}


def test_random_split_small_sets_get_val_and_test() -> None:
    assert Counter(random_split([f"{i}" for i in range(5)], 0).values()) == {"train": 3, "val": 1, "test": 1}
    assert Counter(random_split(["a", "b"], 0).values()) == {"train": 2}


def test_split_rejects_unknown_name(tmp_path: Path) -> None:
    _flickr8k_folder(tmp_path, 10)
    with pytest.raises(ValueError, match="train, val, test"):
        load_corpus(tmp_path).split("validation")


# --------------------------------------------------------------------------- errors and skipping


def test_undecodable_file_names_file_and_line(tmp_path: Path) -> None:
    data = b"image,caption\na.jpg,fine\nb.jpg,caf\xe9 latin-1 here\n"
    (tmp_path / "captions.txt").write_bytes(data)
    with pytest.raises(DataError, match=r"captions\.txt:3: not UTF-8"):
        load_corpus(tmp_path)


def test_unrecognised_header_names_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "captions.txt").write_text("\nfoo,bar\na.jpg,caption\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"captions\.txt:2: unrecognised header"):
        load_corpus(tmp_path)


def test_invalid_json_names_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "annotations").mkdir()
    (tmp_path / "annotations" / "captions_val2017.json").write_text('{\n"images": [\n}', encoding="utf-8")
    with pytest.raises(DataError, match=r"captions_val2017\.json:3: invalid JSON"):
        load_corpus(tmp_path)


def test_unknown_layout_lists_what_was_looked_for(tmp_path: Path) -> None:
    _images(tmp_path / "Images", ["a.jpg"])
    with pytest.raises(DataError) as info:
        load_corpus(tmp_path)
    for expected in (
        "results.csv",
        "captions.txt",
        "Flickr8k.token.txt",
        "captions_*.json",
        "dataset_coco.json",
    ):
        assert expected in str(info.value)


def test_missing_images_are_counted_skipped_and_logged_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _flickr8k_folder(tmp_path, 20)
    for i in (3, 11, 17):
        (tmp_path / "Images" / f"{i:04d}.jpg").unlink()

    with caplog.at_level(logging.WARNING, logger="photoscribe.training.datasets"):
        corpus = load_corpus(tmp_path)

    assert corpus.missing_images == ["0003.jpg", "0011.jpg", "0017.jpg"]
    assert len(corpus.records) == 17
    assert all(r.path.is_file() for r in corpus.records)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "3 of 20" in warnings[0].getMessage() and "0003.jpg" in warnings[0].getMessage()
    assert "3 listed images are missing" in corpus.summary() and "0011.jpg" in corpus.summary()


def test_no_images_at_all_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "captions.txt").write_text("image,caption\na.jpg,a caption\n", encoding="utf-8")
    with pytest.raises(DataError, match="None of the 1 images"):
        load_corpus(tmp_path)


def test_empty_captions_are_dropped_and_counted(tmp_path: Path) -> None:
    text = "image_name| comment_number| comment\na.jpg| 0| a cat\na.jpg| 1|   \na.jpg| 2|\nb.jpg| 0| \t \n"
    (tmp_path / "results.csv").write_text(text, encoding="utf-8")
    _images(tmp_path, ["a.jpg", "b.jpg"])

    corpus = load_corpus(tmp_path)

    assert corpus.dropped_captions == 3
    assert _captions_by_id(corpus) == {"a.jpg": ("a cat",)}  # b.jpg has no caption left
    assert corpus.bad_rows == []
    assert "3 empty captions were dropped" in corpus.summary()


def test_summary_reports_counts(tmp_path: Path) -> None:
    _flickr8k_folder(tmp_path, 30)
    summary = load_corpus(tmp_path).summary()
    assert "flickr8k" in summary
    assert "30 images with 150 captions" in summary
    assert "train 24, val 3, test 3" in summary
    assert "No images are missing" in summary


# --------------------------------------------------------------------------- vocabulary


def test_vocabulary_is_built_on_the_train_split_only(tmp_path: Path) -> None:
    entries = [(f"{i}.jpg", "train", ["a dog runs on grass"] * 5) for i in range(4)]
    entries += [("v.jpg", "val", ["zebra " * 6]), ("t.jpg", "test", ["giraffe " * 6])]
    _karpathy(tmp_path / "dataset_flickr8k.json", entries)
    _images(tmp_path / "Images", [e[0] for e in entries])

    vocab = build_vocabulary(load_corpus(tmp_path), min_freq=5)

    assert {"a", "dog", "runs", "on", "grass"} <= set(vocab.itos)
    assert "zebra" not in vocab and "giraffe" not in vocab
    assert vocab.stats is not None
    assert vocab.stats.size == len(vocab) == 4 + 5
    assert vocab.stats.coverage == pytest.approx(1.0)


def test_image_record_is_frozen() -> None:
    record = ImageRecord("a", Path("a.jpg"), ("cap",), "train")
    with pytest.raises(AttributeError):
        record.split = "val"  # type: ignore[misc]
