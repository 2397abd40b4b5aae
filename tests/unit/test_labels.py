"""The ImageNet class -> search keyword mapping (core/model/labels.py, resources/imagenet_keywords.txt)."""

from __future__ import annotations

import re

import pytest
import torch

from photoscribe.core.captioning.results import Keyword
from photoscribe.core.model import labels
from photoscribe.core.model.labels import (
    BROADER,
    DEFAULT_THRESHOLD,
    IMAGENET_CLASSES,
    KeywordVocabulary,
    broader_terms,
    class_terms,
    keyword_vocabulary,
)

# Too general to help a search, or not words a person types.
FORBIDDEN = {"artifact", "object", "entity", "organism", "instrumentality", "thing", "whole", "matter"}


@pytest.fixture(scope="module")
def vocab() -> KeywordVocabulary:
    return keyword_vocabulary()


def terms_of(name: str) -> tuple[str, ...]:
    return class_terms(IMAGENET_CLASSES.index(name))


def one_hot(*weights: tuple[int, float]) -> torch.Tensor:
    probs = torch.zeros(1, 1000)
    for index, p in weights:
        probs[0, index] = p
    return probs


def test_classes_are_torchvision_imagenet_in_order() -> None:
    from torchvision.models._meta import _IMAGENET_CATEGORIES

    assert tuple(_IMAGENET_CATEGORIES) == IMAGENET_CLASSES
    assert (IMAGENET_CLASSES[151], IMAGENET_CLASSES[268]) == ("Chihuahua", "Mexican hairless")
    assert (IMAGENET_CLASSES[281], IMAGENET_CLASSES[340]) == ("tabby", "zebra")
    assert (IMAGENET_CLASSES[874], IMAGENET_CLASSES[963]) == ("trolleybus", "pizza")


def test_every_class_has_clean_lower_case_terms() -> None:
    for i in range(1000):
        terms = class_terms(i)
        assert terms, f"class {i} {IMAGENET_CLASSES[i]} has no words"
        assert len(set(terms)) == len(terms), f"class {i} repeats a word: {terms}"
        for term in terms:
            assert term == term.strip() and term, f"class {i}: {term!r} has stray whitespace"
            assert term == term.lower(), f"class {i}: {term!r} is not lower case"
            assert re.fullmatch(r"[a-z0-9][a-z0-9 '\-]*[a-z0-9']?", term), f"class {i}: odd term {term!r}"
            assert "  " not in term and term not in FORBIDDEN, f"class {i}: {term!r}"


def test_hierarchy_is_acyclic_shallow_and_lower_case() -> None:
    for word, parents in BROADER.items():
        assert word == word.lower() and all(p == p.lower() for p in parents)
        above = broader_terms(word)
        assert word not in above, f"{word!r} is its own broader term"
        assert len(above) <= 4, f"{word!r} climbs too far: {above}"
        assert not FORBIDDEN & set(above)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("beagle", {"beagle", "dog", "animal"}),
        ("trolleybus", {"trolleybus", "bus", "vehicle"}),
        ("school bus", {"school bus", "bus", "vehicle"}),
        ("minibus", {"bus", "vehicle"}),
        ("tabby", {"cat", "animal"}),
        ("Granny Smith", {"apple", "fruit", "food"}),
        ("desktop computer", {"computer"}),
        ("laptop", {"laptop", "computer"}),
        ("notebook", {"laptop", "computer"}),
        ("pizza", {"pizza", "food"}),
        ("cheeseburger", {"food"}),
        ("banana", {"banana", "fruit", "food"}),
        ("broccoli", {"broccoli", "vegetable", "food"}),
        ("brown bear", {"bear", "animal"}),
        ("ice bear", {"polar bear", "bear", "animal"}),
        ("tusker", {"elephant", "animal"}),
        ("zebra", {"zebra", "animal"}),
        ("airliner", {"airplane", "aircraft"}),
        ("teddy", {"teddy bear", "toy"}),
        ("cab", {"taxi", "car", "vehicle"}),
        ("sports car", {"sports car", "car", "vehicle"}),
        ("cellular telephone", {"cell phone", "phone"}),
        ("studio couch", {"couch", "furniture"}),
        ("four-poster", {"bed"}),
        ("mountain bike", {"bicycle"}),
        ("moped", {"motorcycle"}),
        ("goldfinch", {"bird", "animal"}),
        ("lion", {"lion", "animal"}),
        ("timber wolf", {"wolf", "animal"}),
        ("red fox", {"fox", "animal"}),
        ("seashore", {"beach"}),
        ("alp", {"mountain"}),
        ("monitor", {"monitor"}),
        ("screen", {"monitor"}),
        ("television", {"tv"}),
        ("soccer ball", {"ball"}),
        ("container ship", {"ship", "boat"}),
        ("steam locomotive", {"train", "vehicle"}),
    ],
)
def test_examples(name: str, expected: set[str]) -> None:
    terms = terms_of(name)
    assert expected <= set(terms), f"{name}: {terms}"


def test_own_words_come_first() -> None:
    assert class_terms(162) == ("beagle", "hound", "dog", "animal")
    assert class_terms(874)[0] == "trolleybus"
    assert class_terms(948)[0] == "apple"


@pytest.mark.parametrize(
    ("name", "wrong"),
    [
        ("crane", {"bird", "animal"}),  # 517, the machine (134 is the bird)
        ("plane", {"airplane", "aircraft", "vehicle"}),  # a carpenter's plane
        ("amphibian", {"animal", "amphibian"}),  # an amphibious vehicle
        ("mouse", {"animal"}),  # a computer mouse
        ("custard apple", {"apple"}),
        ("hotdog", {"dog", "animal"}),
        ("tiger cat", {"tiger", "big cat"}),
        ("Cardigan", {"sweater", "clothing"}),  # the corgi (474 is the sweater)
        ("boxer", {"sport"}),
        ("mortar", {"weapon"}),  # mortar and pestle
        ("sea lion", {"lion", "big cat"}),
        ("Madagascar cat", {"cat"}),  # a lemur
        ("pirate", {"person"}),  # a pirate ship
        ("triceratops", {"animal"}),  # toys and skeletons
    ],
)
def test_misleading_imagenet_names_do_not_leak(name: str, wrong: set[str]) -> None:
    assert not wrong & set(terms_of(name)), f"{name}: {terms_of(name)}"


def test_all_dogs_and_only_dogs_are_dog() -> None:
    dogs = {i for i in range(1000) if "dog" in class_terms(i)}
    assert dogs == set(range(151, 269))
    assert len(dogs) == 118


def test_domestic_cats_and_big_cats() -> None:
    cats = {i for i in range(1000) if "cat" in class_terms(i)}
    assert cats == set(range(281, 286))
    big_cats = {IMAGENET_CLASSES[i] for i in range(1000) if "big cat" in class_terms(i)}
    assert {"lion", "tiger", "leopard", "jaguar", "cheetah", "snow leopard"} <= big_cats
    assert {i for i in range(1000) if "bear" in class_terms(i)} == set(range(294, 298))


def test_animals_are_the_animal_classes() -> None:
    animals = {i for i in range(1000) if "animal" in class_terms(i)}
    assert set(range(151, 269)) <= animals
    assert all(i < 398 for i in animals), sorted(i for i in animals if i >= 398)
    assert {i for i in range(1000) if "bird" in class_terms(i)} >= {7, 8, 9, 22, 94, 130, 144, 145}


def test_vocabulary_shape(vocab: KeywordVocabulary) -> None:
    assert vocab.membership.shape == (1000, len(vocab.terms))
    assert vocab.membership.dtype == torch.float32
    assert len(set(vocab.terms)) == len(vocab.terms)
    assert bool((vocab.membership.sum(dim=1) > 0).all()), "a class with no term"
    assert bool((vocab.membership.sum(dim=0) > 0).all()), "a term with no class"
    dog = vocab.terms.index("dog")
    assert int(vocab.membership[:, dog].sum()) == 118
    for i in (0, 162, 874, 999):
        row = {vocab.terms[j] for j in torch.nonzero(vocab.membership[i]).flatten().tolist()}
        assert row == set(class_terms(i))


def test_vocabulary_is_built_once() -> None:
    assert keyword_vocabulary() is keyword_vocabulary()


def test_term_probabilities_sum_the_classes_under_a_term(vocab: KeywordVocabulary) -> None:
    probs = torch.zeros(2, 1000)
    probs[0, 162] = 0.30  # beagle
    probs[0, 167] = 0.25  # English foxhound
    probs[0, 207] = 0.15  # golden retriever
    probs[0, 281] = 0.10  # tabby
    probs[0, 954] = 0.20  # banana
    probs[1, 874] = 0.6  # trolleybus
    probs[1, 779] = 0.3  # school bus
    probs[1, 817] = 0.1  # sports car
    term = vocab.term_probabilities(probs)
    assert term.shape == (2, len(vocab.terms))

    def p(row: int, word: str) -> float:
        return float(term[row, vocab.terms.index(word)])

    assert p(0, "beagle") == pytest.approx(0.30)
    assert p(0, "hound") == pytest.approx(0.55)
    assert p(0, "dog") == pytest.approx(0.70)
    assert p(0, "animal") == pytest.approx(0.80)
    assert p(0, "fruit") == pytest.approx(0.20)
    assert p(0, "food") == pytest.approx(0.20)
    assert p(0, "vehicle") == pytest.approx(0.0)
    assert p(1, "bus") == pytest.approx(0.9)
    assert p(1, "car") == pytest.approx(0.1)
    assert p(1, "vehicle") == pytest.approx(1.0)
    assert p(1, "dog") == pytest.approx(0.0)


def test_term_probabilities_are_capped_at_one(vocab: KeywordVocabulary) -> None:
    # Logits that are not a softmax (or float error) must not give a term a probability over 1.
    probs = torch.zeros(1, 1000)
    probs[0, 151:269] = 0.02  # 118 * 0.02 = 2.36
    term = vocab.term_probabilities(probs)
    assert float(term.max()) == pytest.approx(1.0)
    assert float(term[0, vocab.terms.index("chihuahua")]) == pytest.approx(0.02)


def test_term_probabilities_reject_the_wrong_shape(vocab: KeywordVocabulary) -> None:
    with pytest.raises(ValueError, match="1000"):
        vocab.term_probabilities(torch.zeros(1000))
    with pytest.raises(ValueError, match="1000"):
        vocab.term_probabilities(torch.zeros(2, 999))


def test_keywords_threshold_order_and_dedup(vocab: KeywordVocabulary) -> None:
    probs = one_hot((162, 0.5), (167, 0.2), (954, 0.25), (874, 0.05))
    (words,) = vocab.keywords(probs, threshold=0.3)
    # hound, dog and animal all have 0.7 (beagle + foxhound): the narrower term first.
    assert [k.word for k in words] == ["hound", "dog", "animal", "beagle"]
    assert [k.score for k in words] == pytest.approx([0.7, 0.7, 0.7, 0.5])
    assert all(isinstance(k, Keyword) for k in words)

    (words,) = vocab.keywords(probs, threshold=0.2)
    assert [k.word for k in words][:4] == ["hound", "dog", "animal", "beagle"]
    assert {k.word for k in words[4:]} == {"banana", "fruit", "food", "english foxhound"}
    assert "trolleybus" not in {k.word for k in words} and "vehicle" not in {k.word for k in words}
    assert len({k.word for k in words}) == len(words)
    assert [k.score for k in words] == sorted((k.score for k in words), reverse=True)


def test_keywords_put_the_specific_term_first_on_a_tie(vocab: KeywordVocabulary) -> None:
    (words,) = vocab.keywords(one_hot((468, 0.9)))  # cab
    assert [k.word for k in words] == ["taxi", "cab", "car", "vehicle"]
    (words,) = vocab.keywords(one_hot((948, 1.0)))  # Granny Smith
    assert [k.word for k in words] == ["apple", "fruit", "food"]
    assert words[0].score == pytest.approx(1.0)


def test_keywords_max_and_default_threshold(vocab: KeywordVocabulary) -> None:
    probs = one_hot((162, 0.35), (874, 0.35), (963, 0.29))
    (words,) = vocab.keywords(probs, threshold=0.3)  # pizza and food (0.29) stay out
    assert {k.word for k in words} == {"beagle", "hound", "dog", "animal", "trolleybus", "bus", "vehicle"}
    (words,) = vocab.keywords(probs, threshold=0.3, max_keywords=3)
    # All tie at 0.35: one-class terms first, then "bus" (3 classes) before "hound" (many).
    assert [k.word for k in words] == ["beagle", "trolleybus", "bus"]
    (words,) = vocab.keywords(probs, threshold=0.25, max_keywords=100)
    assert {"pizza", "food"} <= {k.word for k in words}


def test_keywords_per_image_and_on_nothing(vocab: KeywordVocabulary) -> None:
    probs = torch.zeros(3, 1000)
    probs[0, 340] = 1.0  # zebra
    probs[1] = 1.0 / 1000  # no idea
    probs[2, 963] = 0.8  # pizza
    zebra, unsure, pizza = vocab.keywords(probs)
    assert [k.word for k in zebra] == ["zebra", "animal"]
    assert [k.word for k in pizza] == ["pizza", "food"]
    assert unsure == () or all(k.score >= DEFAULT_THRESHOLD for k in unsure)
    (below,) = vocab.keywords(one_hot((963, DEFAULT_THRESHOLD - 0.01)))
    assert below == ()  # the default threshold applies
    assert vocab.keywords(torch.zeros(0, 1000)) == []


def test_a_softmax_batch_gives_sane_keywords(vocab: KeywordVocabulary) -> None:
    logits = torch.full((1, 1000), -5.0)
    logits[0, 208] = 5.0  # Labrador retriever
    logits[0, 207] = 4.0  # golden retriever
    (words,) = vocab.keywords(logits.softmax(dim=1))
    assert [k.word for k in words][:3] == ["animal", "dog", "retriever"]
    assert "labrador retriever" in {k.word for k in words}


def test_data_file_rejects_a_misnumbered_line(monkeypatch: pytest.MonkeyPatch) -> None:
    bad = "0 | tench | tench, fish\n2 | goldfish | goldfish, fish\n"

    class FakeFile:
        def __truediv__(self, name: str) -> FakeFile:
            return self

        def read_text(self, encoding: str) -> str:
            return bad

    monkeypatch.setattr(labels.importlib.resources, "files", lambda package: FakeFile())
    with pytest.raises(ValueError, match="line 2"):
        labels._read_table()
