"""CHAIR object hallucination (Rohrbach et al. 2018) on hand-made captions, and in `evaluate`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from photoscribe.core.model.checkpoint import save_checkpoint
from photoscribe.core.model.network import CaptionModel
from photoscribe.core.model.vocab import Vocabulary
from photoscribe.desktop.cli import main as cli_main
from photoscribe.training.chair import (
    NEUTRAL_PHRASES,
    OBJECT_GROUPS,
    chair,
    hallucinated_objects,
    mentioned_objects,
)
from photoscribe.training.evaluate import evaluate
from tests.helpers import tiny_config


def test_groups_are_cocos_80_categories_and_no_word_names_two() -> None:
    assert len(OBJECT_GROUPS) == 80
    assert {"person", "dog", "hot dog", "teddy bear", "dining table", "hair drier"} <= set(OBJECT_GROUPS)
    owners: dict[str, str] = {}
    for group, words in OBJECT_GROUPS.items():
        for word in words:
            assert owners.setdefault(word, group) == group, f"{word!r} is in {owners[word]} and {group}"
    assert not set(owners) & set(NEUTRAL_PHRASES)


def test_dog_against_cat_references_is_one_hallucinating_caption() -> None:
    report = chair({"1": "A dog lying on a sofa."}, {"1": ["A cat sleeps on a couch.", "A cat on a sofa."]})
    assert report.chair_s == 1.0
    assert report.chair_i == 0.5  # dog is absent, couch (sofa) is there
    assert report.captions["1"].mentioned == {"dog", "couch"}
    assert report.captions["1"].hallucinated == {"dog"}


@pytest.mark.parametrize(
    ("caption", "objects"),
    [
        ("Two puppies and a pup play with a doggy", {"dog"}),
        ("Three men and two women at a table", {"person", "dining table"}),
        ("A skier and some surfers; children, a baby and a lady", {"person"}),
        ("Kids ride bikes past parked cars and buses", {"person", "bicycle", "car", "bus"}),
        ("Knives, forks and wine glasses", {"knife", "fork", "wine glass"}),
        ("A man eats a hot dog", {"person", "hot dog"}),
        ("Hot-dogs with mustard", {"hot dog"}),
        ("A teddy bear on a bed", {"teddy bear", "bed"}),
        ("A brown bear in a river", {"bear"}),
        ("A man on a motor bike", {"person", "motorcycle"}),
        ("Two dirt bikes", {"motorcycle"}),
        ("A baby elephant and its mother", {"elephant"}),
        ("A skier going down a ski slope", {"person"}),
        ("An orange cat", {"cat"}),
        ("Oranges and an orange on a plate", {"orange"}),
        ("An orange has been sliced in half", {"orange"}),
        ("The cat is orange and white", {"cat"}),
        ("A toilet seat is up", {"toilet"}),
        ("A woman next to a phone booth", {"person"}),
        ("A baseball pitcher throws the ball", {"person", "sports ball"}),
        ("A girl hits a volleyball", {"person", "sports ball"}),
        ("Basketball players on a basketball court", {"person"}),
        ("", set()),
        ("   ", set()),
        ("A sunny beach", set()),
    ],
)
def test_mentioned_objects_synonyms_plurals_and_phrases(caption: str, objects: set[str]) -> None:
    assert mentioned_objects(caption) == objects


def test_hot_dog_against_dog_references_is_a_hallucination() -> None:
    assert hallucinated_objects("A hot dog on a bun", ["A dog runs on grass"]) == {"hot dog"}
    assert hallucinated_objects("A dog runs", ["Two hot dogs on a plate"]) == {"dog"}
    assert hallucinated_objects("A puppy runs", ["Two dogs run"]) == set()


def test_man_for_woman_is_not_a_hallucination() -> None:
    assert hallucinated_objects("A man holds an umbrella", ["A woman with a parasol"]) == set()


def test_two_captions_exact_values() -> None:
    hyps = {
        "a": "A man rides a horse next to a dog.",  # person, horse, dog: dog absent
        "b": "A pizza on a table.",  # pizza, dining table: all there
    }
    refs = {
        "a": ["A woman riding a pony.", "A person on a horse in a field."],
        "b": ["A pizza sits on a wooden table.", "Pizza and a knife."],
    }
    report = chair(hyps, refs)
    assert (report.n_captions, report.n_hallucinating) == (2, 1)
    assert (report.n_mentions, report.n_hallucinated) == (5, 1)
    assert report.chair_s == pytest.approx(1 / 2)
    assert report.chair_i == pytest.approx(1 / 5)
    assert report.references_per_image == 2.0
    assert report.most_hallucinated() == [("dog", 1)]


def test_empty_captions_and_no_captions() -> None:
    report = chair({"1": "", "2": "A dog."}, {"1": ["A dog."], "2": ["A cat."]})
    assert report.captions["1"].mentioned == set()
    assert (report.chair_s, report.chair_i) == (0.5, 1.0)
    empty = chair({}, {})
    assert (empty.chair_s, empty.chair_i, empty.n_captions) == (0.0, 0.0, 0)
    with pytest.raises(ValueError, match="no references"):
        chair({"x": "A dog."}, {})


def _dog_checkpoint(path: Path) -> Path:
    """A tiny model that says "dog dog dog ..." to every photo: its output layer only knows "dog"."""
    vocab = Vocabulary(["a", "dog", "cat", "sofa"], max_len=6)
    torch.manual_seed(0)
    model = CaptionModel(tiny_config(len(vocab))).eval()
    with torch.no_grad():
        model.decoder.fc.weight.zero_()
        model.decoder.fc.bias.fill_(-20.0)
        model.decoder.fc.bias[vocab.stoi["dog"]] = 20.0
    return save_checkpoint(path, model, vocab)


def _one_caption_folder(root: Path) -> Path:
    """A Kaggle-format captions.txt with ONE caption per photo, as the coco-general set has."""
    (root / "Images").mkdir(parents=True)
    rows = ["image,caption"]
    for i in range(4):
        Image.new("RGB", (40, 30), (60 * i, 90, 30)).save(root / "Images" / f"p{i}.jpg")
        rows.append(f"p{i}.jpg,{'A dog on a sofa' if i % 2 else 'A cat on a sofa'}")
    (root / "captions.txt").write_text("\n".join(rows) + "\n", "utf-8")
    return root


def test_evaluate_reports_chair_and_labels_every_caption(tmp_path: Path) -> None:
    ckpt = _dog_checkpoint(tmp_path / "dog.pt")
    data = _one_caption_folder(tmp_path / "data")
    out = tmp_path / "captions.json"
    result = evaluate(
        ckpt,
        data,
        split="all",
        batch_size=4,
        device="cpu",
        meteor=False,
        ptb_tokenizer=False,
        precision="fp32",
        captions_out=out,
    )
    assert len(result.captions) == 4 and not result.failures
    # Every caption names only a dog: hallucinated where the one reference says cat.
    assert result.report.scores["CHAIRs"] == 0.5
    assert result.report.scores["CHAIRi"] == 0.5
    payload = json.loads(out.read_text("utf-8"))
    for row in payload["captions"]:
        assert row["caption"].startswith("dog")
        assert row["mentioned"] == ["dog"]
        assert row["hallucinated"] == ([] if "dog" in row["references"][0].lower() else ["dog"])
    assert payload["hallucinated_counts"] == {"dog": 2}
    notes = " ".join(result.report.notes)
    assert "4 all images" in notes and "precision fp32" in notes and "over-counts" in notes
    table = result.report.table()
    assert "CHAIRs" in table and "CHAIRi" in table and "50.0" in table


def test_evaluate_command_takes_split_all_and_precision(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    ckpt = _dog_checkpoint(tmp_path / "dog.pt")
    data = _one_caption_folder(tmp_path / "data")
    out = tmp_path / "c.json"
    args = ["evaluate", str(ckpt), str(data), "--split", "all", "--precision", "fp32", "--no-meteor"]
    assert cli_main([*args, "--device", "cpu", "--length-penalty", "0.5", "--captions-out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "CHAIRs" in text and "CHAIRi" in text and "length penalty 0.5" in text
    assert len(json.loads(out.read_text("utf-8"))["captions"]) == 4
