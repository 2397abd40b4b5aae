"""CHAIR: how often captions name objects that are not in the photo.

Rohrbach et al. 2018, "Object Hallucination in Image Captioning" (EMNLP), define

* **CHAIRs** (sentence level): the share of captions that name at least one object that is
  not in the photo;
* **CHAIRi** (instance level): the share of named objects that are not in the photo.

Both are "lower is better". The paper decides what is in a photo from COCO's segmentation
labels *and* its reference captions. We have no segmentation labels for our data sets, so here
an object is in the photo when **any reference caption of that photo mentions its group**. With
five references (Flickr8k, COCO) that is close to the paper's ground truth; with one reference
per photo (the coco-general set) every object the single reference leaves out counts as
hallucinated, so CHAIR over-counts there: compare such figures only with each other.

Objects are COCO's 80 categories (:data:`OBJECT_GROUPS`), each a group of synonyms and plurals
in the spirit of the paper's ``synonyms.txt``. Matching rules (see :func:`mentioned_objects`):

* Captions are lower-cased and split into runs of letters ("hot-dog" is "hot dog").
* Longer phrases win: "hot dog" is food, not a dog; "teddy bear" is not a bear; "dirt bike"
  is a motorcycle, not a bicycle; "toilet seat" is a toilet, not a chair.
* A few phrases name no object at all (:data:`NEUTRAL_PHRASES`): a "ski slope" has no skis in
  it, "train tracks" no train, a "dvd player" is no person.
* **People**: every word for a person (man, woman, boy, girl, child, people, player, skier,
  surfer, rider, ...) is one group, "person", as in the paper. So "a man" against a reference
  "a woman" is *not* a hallucination (CHAIR measures objects, not gender or age), and "a
  skier" names a person, not skis. A person word right before an animal word is a modifier,
  not a person: "a baby elephant" names an elephant only; so is a person word after "its"
  ("a giraffe and its baby").
* "orange" is the fruit unless it reads as a colour: right before another word that is not a
  preposition, verb or the like ("an orange cat", but "an orange sitting on a plate"), after
  "is"/"are" ("the cat is orange"), or in "orange and white"/"black and orange". A heuristic:
  it errs on rare phrasings.
* Words too ambiguous to count are left out: "seat", "plant", "glass", "board", "lab",
  "turkey", "crane", "sub", "meter", "bow", "fan", "pitcher" (of water, or in baseball) and
  "baseball" (mostly the game). The other ball games ("basketball", "volleyball", ...) name a
  ball, except in "basketball player" (a person) and "basketball court" (nothing).

Counting differs from the paper's code in one way: an object group counts once per caption
("a man and a woman" names one person), where the reference code counts every word.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

__all__ = [
    "NEUTRAL_PHRASES",
    "OBJECT_GROUPS",
    "ChairReport",
    "chair",
    "hallucinated_objects",
    "mentioned_objects",
]

# COCO category -> its words, singular (plurals are added below). Multi-word phrases are
# matched before single words. Source: the paper's synonyms.txt, trimmed of ambiguous words.
_GROUP_WORDS: dict[str, str] = {
    "person": (
        "person, people, persons, man, woman, boy, girl, child, kid, guy, lady, gentleman, adult, "
        "baby, toddler, infant, teenager, teen, youngster, player, skier, surfer, rider, "
        "skateboarder, skater, snowboarder, biker, cyclist, bicyclist, motorcyclist, "
        "batter, catcher, umpire, chef, baker, worker, officer, policeman, policewoman, cop, "
        "soldier, bride, groom, mother, father, mom, dad, son, daughter, husband, wife, friend, "
        "tourist, traveler, passenger, pedestrian, student, spectator, athlete, someone, "
        "somebody, cowboy, jockey, baseball pitcher, basketball player, football player, volleyball player, vendor, customer, doctor, nurse, businessman, businesswoman"
    ),
    "bicycle": "bicycle, bike, unicycle, tricycle, trike",
    "car": "car, automobile, sedan, suv, van, minivan, taxi, cab, taxicab, jeep, limo, limousine, hatchback",
    "motorcycle": "motorcycle, motorbike, motor bike, motor cycle, dirt bike, scooter, moped",
    "airplane": "airplane, aeroplane, air plane, plane, jet, passenger jet, passenger plane, airliner, jetliner, aircraft, biplane, seaplane",
    "bus": "bus, minibus, school bus, passenger bus, double decker, trolley",
    "train": "train, locomotive, tram, train car, subway train, passenger train, freight train",
    "truck": "truck, pickup, lorry, firetruck, semi truck",
    "boat": (
        "boat, ship, sailboat, yacht, canoe, kayak, ferry, speedboat, rowboat, tugboat, motorboat, "
        "steamboat, houseboat, vessel, barge, dinghy, gondola, catamaran, jet ski"
    ),
    "traffic light": "traffic light, traffic signal, stop light, stoplight",
    "fire hydrant": "fire hydrant, hydrant, fire plug",
    "stop sign": "stop sign",
    "parking meter": "parking meter",
    "bench": "bench, pew",
    "bird": (
        "bird, pigeon, seagull, gull, duck, duckling, goose, swan, parrot, owl, eagle, hawk, crow, "
        "raven, sparrow, pelican, flamingo, rooster, hen, peacock, ostrich, heron, finch, robin, "
        "hummingbird, woodpecker, penguin, cockatoo, macaw, vulture, egret, mallard, pheasant, "
        "parakeet, blackbird, bluebird, songbird, seabird"
    ),
    "cat": "cat, kitten, kitty, feline, tabby",
    "dog": (
        "dog, puppy, pup, doggy, doggie, canine, mutt, hound, terrier, poodle, retriever, labrador, "
        "beagle, bulldog, chihuahua, dachshund, collie, corgi, husky, pug, greyhound, sheepdog, "
        "spaniel, rottweiler, pitbull, schnauzer, doberman, dalmatian, german shepherd, pit bull"
    ),
    "horse": "horse, pony, colt, foal, stallion, mare, bronco",
    "sheep": "sheep, lamb, ewe, goat",
    "cow": "cow, cattle, calf, bull, ox, heifer, bison, buffalo, longhorn",
    "elephant": "elephant",
    "bear": "bear, grizzly",
    "zebra": "zebra",
    "giraffe": "giraffe",
    "backpack": "backpack, back pack, knapsack, rucksack",
    "umbrella": "umbrella, parasol",
    "handbag": "handbag, hand bag, purse, pocketbook, briefcase, wallet",
    "tie": "tie, necktie, neck tie, bow tie",
    "suitcase": "suitcase, suit case, luggage",
    "frisbee": "frisbee",
    "skis": "skis, ski",
    "snowboard": "snowboard, snow board",
    "sports ball": (
        "sports ball, ball, soccer ball, tennis ball, beach ball, volleyball, basketball, football, softball"
    ),
    "kite": "kite",
    "baseball bat": "baseball bat, bat",
    "baseball glove": "baseball glove, baseball mitt, mitt",
    "skateboard": "skateboard, skate board",
    "surfboard": "surfboard, surf board, longboard, bodyboard, boogie board",
    "tennis racket": "tennis racket, tennis racquet, racket, racquet",
    "bottle": "bottle",
    "wine glass": "wine glass, glass of wine, glasses of wine, wineglass",
    "cup": "cup, mug, teacup, coffee cup",
    "fork": "fork",
    "knife": "knife, pocketknife",
    "spoon": "spoon",
    "bowl": "bowl",
    "banana": "banana",
    "apple": "apple",
    "sandwich": "sandwich, burger, hamburger, cheeseburger, panini",
    "orange": "orange",
    "broccoli": "broccoli",
    "carrot": "carrot",
    "hot dog": "hot dog, hotdog",
    "pizza": "pizza",
    "donut": "donut, doughnut",
    "cake": "cake, cupcake, cheesecake",
    "chair": "chair, armchair, stool, high chair, computer chair, office chair",
    "couch": "couch, sofa, loveseat, futon, recliner, settee",
    "potted plant": "potted plant, house plant, houseplant",
    "bed": "bed, bunk bed",
    "dining table": "dining table, table, desk, computer desk",
    "toilet": "toilet, urinal, commode, toilet seat, toilet bowl",
    "tv": "tv, television, monitor, computer monitor, flat screen",
    "laptop": "laptop, computer, laptop computer, notebook computer, macbook",
    "mouse": "mouse, computer mouse",
    "remote": "remote, remote control, controller",
    "keyboard": "keyboard, computer keyboard",
    "cell phone": "cell phone, cellphone, phone, smartphone, smart phone, mobile phone, telephone, iphone",
    "microwave": "microwave, microwave oven",
    "oven": "oven, stove, stovetop",
    "toaster": "toaster, toaster oven",
    "sink": "sink",
    "refrigerator": "refrigerator, fridge, freezer",
    "book": "book, novel",
    "clock": "clock",
    "vase": "vase",
    "scissors": "scissors, scissor",
    "teddy bear": "teddy bear, teddybear, teddy, stuffed bear, stuffed animal",
    "hair drier": "hair drier, hair dryer, hairdryer, blow dryer, blowdryer",
    "toothbrush": "toothbrush, tooth brush",
}

# Phrases that contain an object word but name no object (matched like objects, then dropped).
NEUTRAL_PHRASES: tuple[str, ...] = (
    "ski slope", "ski slopes", "ski lift", "ski lifts", "ski resort", "ski lodge", "ski run",
    "ski trail", "ski area", "ski pole", "ski poles", "ski jump",
    "train track", "train tracks", "train station", "train platform", "bus stop", "bus station",
    "dvd player", "cd player", "record player", "flower bed", "flower beds", "corn dog", "corn dogs",
    "apple logo", "phone booth", "basketball court", "basketball hoop", "football field", "snow man", "tennis court", "tennis courts", "cable car", "cable cars",
)  # fmt: skip


def _word_set(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Irregular plurals, and words whose plural is themselves.
_IRREGULAR = {
    "man": "men", "woman": "women", "child": "children", "person": "people", "gentleman": "gentlemen",
    "policeman": "policemen", "policewoman": "policewomen", "businessman": "businessmen",
    "businesswoman": "businesswomen", "knife": "knives", "pocketknife": "pocketknives", "mouse": "mice",
    "goose": "geese", "ox": "oxen", "wife": "wives", "calf": "calves", "bus": "buses",
    "minibus": "minibuses", "cattle": "cattle", "sheep": "sheep", "bison": "bison", "skis": "skis",
    "scissors": "scissors", "scissor": "scissors", "people": "peoples", "luggage": "luggage",
    "broccoli": "broccoli", "teddy": "teddies", "buffalo": "buffaloes",
}  # fmt: skip
_ANIMALS = ("bird", "cat", "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe")
_COLOURS = _word_set("black white red blue green yellow brown grey gray pink purple orange tan golden")
# Words that can follow the fruit "orange" (else "orange" before a word is a colour: "orange cat").
_ORANGE_FOLLOWERS = _word_set(
    "and or on in with next near beside by at of to from under inside atop sitting sits laying lying "
    "is are was were that which slice slices sliced juice peel peels wedge wedges half halves segments "
    "tree trees being has have had together peeled halved cut"
)
_WORD = re.compile(r"[a-z]+")


def _plural(word: str) -> str:
    """The plural of a word, or of a phrase's last word ("hot dog" -> "hot dogs")."""
    head, _, last = word.rpartition(" ")
    if last in _IRREGULAR:
        plural = _IRREGULAR[last]
    elif last.endswith(("s", "x", "z", "ch", "sh")):
        plural = last + "es"
    elif last.endswith("y") and last[-2:-1] not in "aeiou":
        plural = last[:-1] + "ies"
    else:
        plural = last + "s"
    return f"{head} {plural}" if head else plural


def _expand(words: str) -> tuple[str, ...]:
    singular = [w.strip() for w in words.split(",") if w.strip()]
    return tuple(dict.fromkeys(w for s in singular for w in (s, _plural(s))))


OBJECT_GROUPS: dict[str, tuple[str, ...]] = {name: _expand(words) for name, words in _GROUP_WORDS.items()}
"""COCO category (and "person") -> every word or phrase that names it, singular and plural."""

# Phrase (as a tuple of words) -> group, or None for a neutral phrase.
_PHRASES: dict[tuple[str, ...], str | None] = {
    tuple(w.split()): group for group, words in OBJECT_GROUPS.items() for w in words
}
_PHRASES.update({tuple(p.split()): None for p in NEUTRAL_PHRASES})
_LONGEST = max(len(p) for p in _PHRASES)


def _tokens(caption: str) -> list[str]:
    return _WORD.findall(caption.lower())


def _is_colour_orange(tokens: list[str], i: int) -> bool:
    before = tokens[i - 1] if i > 0 else ""
    after = tokens[i + 1] if i + 1 < len(tokens) else ""
    if before in {"is", "are", "was", "were", "bright", "dark", "light", "and", "or"} and (
        before not in {"and", "or"} or (i > 1 and tokens[i - 2] in _COLOURS)
    ):
        return True
    if after in {"and", "or"} and i + 2 < len(tokens) and tokens[i + 2] in _COLOURS:
        return True
    return bool(after) and after not in _ORANGE_FOLLOWERS and not after.endswith("ing")


def mentioned_objects(caption: str) -> set[str]:
    """The object groups (keys of :data:`OBJECT_GROUPS`) that ``caption`` names.

    >>> sorted(mentioned_objects("A man eats a hot dog next to two puppies."))
    ['dog', 'hot dog', 'person']

    ("puppies" is a dog; "hot dog" is not.)
    """
    tokens = _tokens(caption)
    found: set[str] = set()
    i = 0
    while i < len(tokens):
        for n in range(min(_LONGEST, len(tokens) - i), 0, -1):
            phrase = tuple(tokens[i : i + n])
            if phrase not in _PHRASES:
                continue
            group = _PHRASES[phrase]
            after = _PHRASES.get(tuple(tokens[i + n : i + n + 1]))
            if group == "person" and n == 1 and (after in _ANIMALS or (i > 0 and tokens[i - 1] == "its")):
                group = None  # "baby elephant", "mother bear", "a giraffe and its baby": animals
            elif phrase == ("orange",) and _is_colour_orange(tokens, i):
                group = None
            if group is not None:
                found.add(group)
            i += n
            break
        else:
            i += 1
    return found


def hallucinated_objects(hypothesis: str, references: Sequence[str]) -> set[str]:
    """The object groups ``hypothesis`` names that none of ``references`` mentions."""
    present: set[str] = set()
    for ref in references:
        present |= mentioned_objects(ref)
    return mentioned_objects(hypothesis) - present


@dataclass(frozen=True)
class CaptionChair:
    """One caption's objects: those it names, and those of them no reference mentions."""

    mentioned: frozenset[str]
    hallucinated: frozenset[str]


@dataclass(frozen=True)
class ChairReport:
    """CHAIR over a set of captions (shares in 0..1; lower is better).

    Attributes:
        chair_s: captions naming at least one absent object / all captions.
        chair_i: absent object mentions / all object mentions (a group counts once per caption).
        captions: image id -> that caption's :class:`CaptionChair`.
        hallucinated_counts: object group -> captions that hallucinate it.
        references_per_image: mean number of reference captions (1 means CHAIR over-counts).
    """

    chair_s: float
    chair_i: float
    n_captions: int
    n_hallucinating: int
    n_mentions: int
    n_hallucinated: int
    references_per_image: float
    captions: dict[str, CaptionChair] = field(default_factory=dict)
    hallucinated_counts: Counter[str] = field(default_factory=Counter)

    def most_hallucinated(self, n: int = 15) -> list[tuple[str, int]]:
        """The ``n`` object groups hallucinated in the most captions, with their counts."""
        return self.hallucinated_counts.most_common(n)


def chair(hypotheses: Mapping[str, str], references: Mapping[str, Sequence[str]]) -> ChairReport:
    """CHAIRs and CHAIRi of one caption per image against that image's reference captions.

    An object is in the photo when any of its references mentions the object's group (there
    are no segmentation labels here). With no captions, or no object mentioned, both scores are 0.

    Args:
        hypotheses: image id -> generated caption.
        references: image id -> reference captions; must have every id of ``hypotheses``.

    Raises:
        ValueError: a hypothesis has no references entry.
    """
    missing = [k for k in hypotheses if k not in references]
    if missing:
        raise ValueError(f"{len(missing)} hypotheses have no references (first: {missing[0]!r})")
    per_caption: dict[str, CaptionChair] = {}
    counts: Counter[str] = Counter()
    for image_id, hypothesis in hypotheses.items():
        named = mentioned_objects(hypothesis)
        absent = hallucinated_objects(hypothesis, references[image_id])
        per_caption[image_id] = CaptionChair(frozenset(named), frozenset(absent))
        counts.update(absent)
    n = len(per_caption)
    n_hallucinating = sum(bool(c.hallucinated) for c in per_caption.values())
    n_mentions = sum(len(c.mentioned) for c in per_caption.values())
    n_hallucinated = sum(len(c.hallucinated) for c in per_caption.values())
    n_refs = sum(len(references[k]) for k in per_caption)
    return ChairReport(
        chair_s=n_hallucinating / n if n else 0.0,
        chair_i=n_hallucinated / n_mentions if n_mentions else 0.0,
        n_captions=n,
        n_hallucinating=n_hallucinating,
        n_mentions=n_mentions,
        n_hallucinated=n_hallucinated,
        references_per_image=n_refs / n if n else 0.0,
        captions=per_caption,
        hallucinated_counts=counts,
    )
