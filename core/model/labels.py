"""Search keywords from the encoder's ImageNet classifier.

The encoder's classifier scores the 1,000 ILSVRC-2012 classes. Their names are WordNet's ("tusker",
"ice bear", "Granny Smith", "notebook"), and most are more specific than what a person types into a
search box. ``resources/imagenet_keywords.txt`` gives each class, by hand, the plain words a person
would search for ("elephant", "polar bear", "apple", "laptop") and a few broader ones ("dog",
"fruit"); :data:`BROADER` then climbs a short hierarchy of search words ("beagle" -> "hound" ->
"dog" -> "animal"). docs/keywords.md describes how the mapping was made and where it falls short.

A word's probability is the sum of the probabilities of the classes under it: "dog" is the sum over
the 118 dog breeds, so a photo the classifier cannot place between a beagle and a foxhound is still
confidently a dog.
"""

from __future__ import annotations

import functools
import importlib.resources
from collections.abc import Sequence

import torch

from photoscribe.core.captioning.results import Keyword

# A search word's broader words, one step up. Only words shared by many classes are here; a class's
# own names are in the data file. The hierarchy is shallow on purpose (at most four steps up) and stops
# at words a person types ("animal", "vehicle", "food"), never "artifact", "object" or "organism".
BROADER: dict[str, tuple[str, ...]] = {
    # Animals.
    "dog": ("animal",),
    "hound": ("dog",),
    "greyhound": ("hound",),
    "terrier": ("dog",),
    "pit bull": ("dog",),
    "spaniel": ("dog",),
    "retriever": ("dog",),
    "pointer": ("dog",),
    "setter": ("dog",),
    "sheepdog": ("dog",),
    "collie": ("sheepdog",),
    "schnauzer": ("dog",),
    "mastiff": ("dog",),
    "bulldog": ("dog",),
    "husky": ("dog",),
    "corgi": ("dog",),
    "poodle": ("dog",),
    "wolf": ("animal",),
    "fox": ("animal",),
    "cat": ("animal",),
    "big cat": ("animal",),
    "wild cat": ("animal",),
    "bear": ("animal",),
    "panda": ("animal",),
    "elephant": ("animal",),
    "kangaroo": ("animal",),
    "whale": ("animal",),
    "rodent": ("animal",),
    "rabbit": ("animal",),
    "horse": ("animal",),
    "cow": ("animal",),
    "buffalo": ("animal",),
    "pig": ("animal",),
    "sheep": ("animal",),
    "goat": ("animal",),
    "antelope": ("animal",),
    "ape": ("animal",),
    "monkey": ("animal",),
    "lemur": ("animal",),
    "bird": ("animal",),
    "chicken": ("bird",),
    "finch": ("bird",),
    "bird of prey": ("bird",),
    "eagle": ("bird of prey",),
    "owl": ("bird",),
    "grouse": ("bird",),
    "parrot": ("bird",),
    "duck": ("bird",),
    "swan": ("bird",),
    "stork": ("bird",),
    "heron": ("bird",),
    "shorebird": ("bird",),
    "penguin": ("bird",),
    "fish": ("animal",),
    "shark": ("fish",),
    "ray": ("fish",),
    "reptile": ("animal",),
    "snake": ("reptile",),
    "viper": ("snake",),
    "lizard": ("reptile",),
    "turtle": ("reptile",),
    "sea turtle": ("turtle",),
    "crocodile": ("reptile",),
    "alligator": ("reptile",),
    "amphibian": ("animal",),
    "frog": ("amphibian",),
    "salamander": ("amphibian",),
    "insect": ("animal",),
    "beetle": ("insect",),
    "butterfly": ("insect",),
    "spider": ("animal",),
    "crab": ("animal",),
    "lobster": ("animal",),
    "worm": ("animal",),
    # Plants and fungi.
    "flower": ("plant",),
    "orchid": ("flower",),
    "potted plant": ("plant",),
    "mushroom": ("fungus",),
    # Food and drink.
    "fruit": ("food",),
    "apple": ("fruit",),
    "vegetable": ("food",),
    "squash": ("vegetable",),
    "corn": ("vegetable",),
    "bread": ("food",),
    "burger": ("food",),
    "soup": ("food",),
    "pasta": ("food",),
    "dessert": ("food",),
    "meal": ("food",),
    "coffee": ("drink",),
    "wine": ("drink",),
    "beer": ("drink",),
    "mug": ("cup",),
    # Vehicles.
    "car": ("vehicle",),
    "vintage car": ("car",),
    "bus": ("vehicle",),
    "truck": ("vehicle",),
    "van": ("vehicle",),
    "military vehicle": ("vehicle",),
    "train": ("vehicle",),
    "locomotive": ("train",),
    "motorcycle": ("vehicle",),
    "bicycle": ("vehicle",),
    "boat": ("vehicle",),
    "ship": ("boat",),
    "sailboat": ("boat",),
    "aircraft": ("vehicle",),
    "airplane": ("aircraft",),
    # Electronics and appliances.
    "computer": ("electronics",),
    "monitor": ("computer",),
    "keyboard": ("computer",),
    "mouse": ("computer",),
    "phone": ("electronics",),
    "telephone": ("phone",),
    "tv": ("electronics",),
    "camera": ("electronics",),
    "heater": ("appliance",),
    # Furniture.
    "chair": ("furniture",),
    "sofa": ("furniture",),
    "couch": ("furniture",),
    "bed": ("furniture",),
    "table": ("furniture",),
    "cabinet": ("furniture",),
    # Clothing.
    "shoe": ("clothing",),
    "boot": ("shoe",),
    "hat": ("clothing",),
    "coat": ("clothing",),
    "dress": ("clothing",),
    "skirt": ("clothing",),
    "sweater": ("clothing",),
    "swimsuit": ("clothing",),
    "tie": ("clothing",),
    "glove": ("clothing",),
    "uniform": ("clothing",),
    # Music, sport, weapons.
    "guitar": ("musical instrument",),
    "piano": ("musical instrument",),
    "drum": ("musical instrument",),
    "trumpet": ("musical instrument",),
    "xylophone": ("musical instrument",),
    "gun": ("weapon",),
    "rifle": ("gun",),
    "sword": ("weapon",),
    # Buildings and places.
    "church": ("building",),
    "temple": ("building",),
    "roof": ("building",),
    "mountain": ("landscape",),
    "cliff": ("landscape",),
    "valley": ("landscape",),
    "volcano": ("landscape",),
    "lake": ("landscape",),
    "beach": ("landscape",),
    "coast": ("landscape",),
    "field": ("landscape",),
}

RESOURCE = "imagenet_keywords.txt"
N_CLASSES = 1000


def _read_table() -> tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]:
    """(ImageNet names, each class's own words) from the data file, checked line by line."""
    text = (importlib.resources.files("photoscribe.resources") / RESOURCE).read_text(encoding="utf-8")
    names: list[str] = []
    words: list[tuple[str, ...]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = [part.strip() for part in line.split("|")]
        if len(parts) != 3 or not parts[0].isdigit() or int(parts[0]) != len(names):
            raise ValueError(f"{RESOURCE} line {number}: expected '{len(names)} | ImageNet name | words'")
        names.append(parts[1])
        words.append(tuple(word.strip() for word in parts[2].split(",")))
    if len(names) != N_CLASSES:
        raise ValueError(f"{RESOURCE} has {len(names)} classes, expected {N_CLASSES}")
    return tuple(names), tuple(words)


_NAMES, _OWN_WORDS = _read_table()

IMAGENET_CLASSES: tuple[str, ...] = _NAMES
"""The 1,000 ImageNet class names in class-index order (torchvision's spelling)."""


def broader_terms(word: str) -> tuple[str, ...]:
    """Every word above ``word`` in :data:`BROADER`, nearest first ("beagle" has none; "hound" has
    "dog", "animal")."""
    found: list[str] = []
    frontier = list(BROADER.get(word, ()))
    while frontier:
        parent = frontier.pop(0)
        if parent not in found:
            found.append(parent)
            frontier.extend(BROADER.get(parent, ()))
    return tuple(found)


def class_terms(index: int) -> tuple[str, ...]:
    """The search words of ImageNet class ``index``: its own words first, then broader ones.

    >>> class_terms(162)
    ('beagle', 'hound', 'dog', 'animal')
    """
    if not 0 <= index < N_CLASSES:
        raise IndexError(f"ImageNet class index {index} is out of range (0-{N_CLASSES - 1})")
    terms = list(_OWN_WORDS[index])
    for word in _OWN_WORDS[index]:
        terms.extend(term for term in broader_terms(word) if term not in terms)
    return tuple(terms)


# Keep a keyword when its probability reaches this (calibrated on the general photo set: docs/keywords.md).
DEFAULT_THRESHOLD = 0.55


class KeywordVocabulary:
    """All search words and which ImageNet classes each covers; turns class probabilities into keywords.

    Build it once with :func:`keyword_vocabulary`.

    Attributes:
        terms: every distinct search word, in order of first appearance over the classes.
        membership: (1000, T) float32, 1 where class i falls under term j.
        class_counts: (T,) how many classes each term covers (1 for "beagle", 118 for "dog").
    """

    def __init__(self, class_words: Sequence[Sequence[str]]) -> None:
        terms: list[str] = []
        for words in class_words:
            terms.extend(word for word in words if word not in terms)
        self.terms: tuple[str, ...] = tuple(terms)
        column = {term: j for j, term in enumerate(self.terms)}
        membership = torch.zeros(len(class_words), len(self.terms), dtype=torch.float32)
        for i, words in enumerate(class_words):
            membership[i, [column[word] for word in words]] = 1.0
        self.membership: torch.Tensor = membership
        self.class_counts: torch.Tensor = membership.sum(dim=0)
        self._on_device: dict[tuple[torch.device, torch.dtype], torch.Tensor] = {}

    def _membership_for(self, probs: torch.Tensor) -> torch.Tensor:
        key = (probs.device, probs.dtype)
        if key not in self._on_device:
            self._on_device[key] = self.membership.to(device=probs.device, dtype=probs.dtype)
        return self._on_device[key]

    def term_probabilities(self, probs: torch.Tensor) -> torch.Tensor:
        """Each term's probability: the sum over the classes under it, capped at 1.

        Args:
            probs: (B, 1000) class probabilities (softmax of the classifier's logits).

        Returns:
            (B, T) term probabilities, on ``probs``' device, columns in the order of :attr:`terms`.
        """
        if probs.dim() != 2 or probs.shape[1] != self.membership.shape[0]:
            raise ValueError(
                f"expected class probabilities of shape (B, {self.membership.shape[0]}), got {tuple(probs.shape)}"
            )
        return (probs @ self._membership_for(probs)).clamp_(max=1.0)  # (B, T)

    def keywords(
        self, probs: torch.Tensor, threshold: float = DEFAULT_THRESHOLD, max_keywords: int = 8
    ) -> list[tuple[Keyword, ...]]:
        """The keywords of each image: terms whose probability reaches ``threshold``, most probable first.

        A class's own name and its broader terms each appear when each passes; a broad term ("animal",
        "food") needs no special case, it simply passes more often. Of terms with the same score, the
        more specific (fewer classes) comes first, so an all-"beagle" photo lists "beagle" before
        "dog" and "animal".

        Args:
            probs: (B, 1000) class probabilities.
            threshold: the lowest term probability kept. 0.3 is a first guess; the model card records
                the calibrated value.
            max_keywords: at most this many keywords per image.

        Returns:
            One tuple of :class:`~photoscribe.core.captioning.results.Keyword` per image.
        """
        scores = self.term_probabilities(probs).float().cpu()  # (B, T)
        counts = self.class_counts.tolist()
        results: list[tuple[Keyword, ...]] = []
        for row in scores:
            passing = torch.nonzero(row >= threshold).flatten().tolist()
            # Scores rounded so that float noise in the sums does not undo a tie: of equal scores
            # (synonyms, a broad term all of whose mass is in one class) the specific term comes first.
            passing.sort(key=lambda j: (-round(float(row[j]), 6), counts[j], j))
            results.append(tuple(Keyword(self.terms[j], float(row[j])) for j in passing[:max_keywords]))
        return results


@functools.cache
def keyword_vocabulary() -> KeywordVocabulary:
    """The vocabulary of the 1,000 ImageNet classes (built on first use, then shared)."""
    return KeywordVocabulary([class_terms(i) for i in range(N_CLASSES)])
