"""Caption metrics with the coco-caption code papers report (pycocoevalcap).

BLEU-1..4, ROUGE-L and CIDEr are pure Python. METEOR and the PTB tokenizer run
Java; without Java we tokenize with our own tokenizer and skip METEOR with a note.
pycocoevalcap (104 MB with its Java jars) is the optional ``eval`` extra: without it
:func:`score_captions` raises one sentence naming the extra.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from photoscribe.core.errors import AssetMissingError
from photoscribe.core.model.vocab import tokenize

log = logging.getLogger(__name__)

METRIC_ORDER = ("BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "METEOR", "ROUGE-L", "CIDEr", "CHAIRs", "CHAIRi")


@dataclass
class MetricReport:
    scores: dict[str, float]
    notes: list[str] = field(default_factory=list)
    tokenizer: str = "photoscribe"

    def table(self) -> str:
        """A one-row table laid out like the papers' (scores x 100, CIDEr as is x 100).

        CHAIRs and CHAIRi (evaluation only) are percentages where lower is better.
        """
        names = [m for m in METRIC_ORDER if m in self.scores]
        head = " | ".join(f"{n:>7}" for n in names)
        row = " | ".join(f"{100 * self.scores[n]:7.1f}" for n in names)
        lines = [head, "-" * len(head), row]
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


EVAL_EXTRA_MISSING = (
    "the coco-caption metrics (BLEU, METEOR, ROUGE-L, CIDEr) are not installed: "
    "install photoscribe[eval] (pip install 'photoscribe[eval]')"
)


def coco_metrics_available() -> bool:
    """Whether pycocoevalcap (the ``eval`` extra) can be imported."""
    try:
        import pycocoevalcap.bleu.bleu  # noqa: F401
    except ImportError:
        return False
    return True


def require_coco_metrics() -> None:
    """Raise :class:`AssetMissingError` naming the ``eval`` extra when pycocoevalcap is missing."""
    if not coco_metrics_available():
        raise AssetMissingError(EVAL_EXTRA_MISSING)


def java_available() -> bool:
    return shutil.which("java") is not None


def _simple_tokenize(captions: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    return {k: [" ".join(tokenize(c)) for c in caps] for k, caps in captions.items()}


def _ptb_tokenize(captions: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    data = {k: [{"caption": c} for c in caps] for k, caps in captions.items()}
    return PTBTokenizer().tokenize(data)


def score_captions(
    references: Mapping[str, Sequence[str]],
    hypotheses: Mapping[str, str],
    *,
    meteor: bool = False,
    ptb_tokenizer: bool = False,
) -> MetricReport:
    """Corpus-level metrics of one hypothesis per image against its references.

    Args:
        references: image id -> reference captions.
        hypotheses: image id -> generated caption (ids must match ``references``).
        meteor: also compute METEOR (needs Java; skipped with a note without it).
        ptb_tokenizer: tokenize with Stanford's PTB tokenizer as coco-caption does (needs Java).

    Raises:
        AssetMissingError: pycocoevalcap (the ``eval`` extra) is not installed.
    """
    require_coco_metrics()
    if set(references) != set(hypotheses):
        raise ValueError("references and hypotheses must cover the same image ids")
    if not hypotheses:
        return MetricReport({}, ["no images to score"])
    notes: list[str] = []
    hyps_raw = {k: [v] for k, v in hypotheses.items()}
    use_ptb = ptb_tokenizer and java_available()
    if ptb_tokenizer and not use_ptb:
        notes.append("Java not found: used photoscribe's tokenizer instead of the PTB tokenizer")
    tok = _ptb_tokenize if use_ptb else _simple_tokenize
    gts, res = tok(references), tok(hyps_raw)
    # pycocoevalcap chokes on empty hypotheses; an empty caption scores as a single unknown token.
    res = {k: [v[0] if v and v[0] else "<empty>"] for k, v in res.items()}

    scores: dict[str, float] = {}
    # Imported here: the coco-caption package is only needed when something is scored.
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge

    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    for n, value in enumerate(bleu, start=1):
        scores[f"BLEU-{n}"] = float(value)
    if meteor:
        if java_available():
            from pycocoevalcap.meteor.meteor import Meteor

            scorer = Meteor()
            try:
                scores["METEOR"] = float(scorer.compute_score(gts, res)[0])
            finally:
                if hasattr(scorer, "close"):
                    scorer.close()
        else:
            notes.append("METEOR skipped: it needs Java (install a JRE, e.g. `apt install default-jre`)")
    scores["ROUGE-L"] = float(Rouge().compute_score(gts, res)[0])
    scores["CIDEr"] = float(Cider().compute_score(gts, res)[0])
    return MetricReport(scores, notes, "ptb" if use_ptb else "photoscribe")
