"""Self-BLEU-4 (Zhu et al., 2018 — Texygen), the diversity number of the paper's Tables 3-4 (lower = more diverse).

Texygen's way (PROTOCOL.md §7.1; the MIPO scripts import a ``self_bleu`` module that was never released): every
response of a set is a hypothesis scored by nltk ``sentence_bleu`` against ALL the other responses of the set as
references — never against itself (by index: an identical response at another index is a legitimate reference) —
with uniform weights (1/n, …, 1/n) and ``SmoothingFunction().method1``; Self-BLEU is the mean. No lowercasing
(Texygen does not lowercase).

Settings that change the number travel with it in :class:`SelfBleu`:

- ``tokenizer``: ``"treebank"`` (default) is ``nltk.word_tokenize``'s own pipeline — a Punkt sentence split, then
  nltk's improved Treebank word tokenizer (``NLTKWordTokenizer``) per sentence — except that the Punkt model is the
  untrained one: the trained English model (``punkt_tab`` data) is not shipped with nltk and cannot be assumed, so
  abbreviations such as "Dr." may end a sentence (which only splits off their period). ``"word_tokenize"`` calls
  ``nltk.word_tokenize`` itself and needs the ``punkt_tab`` data installed (``nltk.download("punkt_tab")``).
- ``sample_size``: with more responses than that, a seeded subsample of ``sample_size`` hypotheses is scored
  (references stay ALL the other responses; ``references="sample"`` restricts them to the subsample as well, which
  is Texygen's ``get_bleu_fast`` — there with the first 500 lines instead of a seeded sample). The paper's sets
  (84-200 responses) are below 500, where both are the full computation.
- ``smoothing``: ``None`` is the backend's default — ``"method1"`` for nltk (Texygen), ``"exp"`` for sacrebleu;
  the name actually used is what :class:`SelfBleu` records.
- ``backend="sacrebleu"``: ``sacrebleu.sentence_bleu(hypothesis, others)`` / 100 — its default tokenizer (13a),
  effective order and smoothing (``exp``; also ``floor``, ``add-k``, ``none``). Not comparable with the nltk
  number: sacrebleu smooths even a hypothesis without a single matching word (pairwise-disjoint responses score
  about 0.05-0.09 there, exactly 0 with nltk, which returns 0 when no unigram matches).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np

TOKENIZERS = ("treebank", "word_tokenize")
BACKENDS = ("nltk", "sacrebleu")
DEFAULT_SMOOTHING = {"nltk": "method1", "sacrebleu": "exp"}
SACREBLEU_SMOOTHING = ("exp", "floor", "add-k", "none")


@dataclass(frozen=True)
class SelfBleu:
    """A Self-BLEU value with every setting that produced it."""

    value: float
    n: int
    smoothing: str
    tokenizer: str
    sample_size: int | None
    n_responses: int
    n_hypotheses: int
    backend: str
    references: str = "all"
    seed: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


@lru_cache(maxsize=1)
def _treebank_pipeline():
    from nltk.tokenize import NLTKWordTokenizer
    from nltk.tokenize.punkt import PunktSentenceTokenizer

    return PunktSentenceTokenizer(), NLTKWordTokenizer()


def tokenize(text: str, tokenizer: str = "treebank") -> list[str]:
    """Split ``text`` into BLEU tokens the way ``tokenizer`` names (see the module docstring)."""
    if tokenizer == "treebank":
        sentences, words = _treebank_pipeline()
        return [token for sentence in sentences.tokenize(text) for token in words.tokenize(sentence)]
    if tokenizer == "word_tokenize":
        from nltk import word_tokenize

        try:
            return word_tokenize(text)
        except LookupError as error:
            raise LookupError(
                'tokenizer="word_tokenize" needs nltk\'s punkt_tab data: python -m nltk.downloader punkt_tab '
                '(or use tokenizer="treebank", the same pipeline with an untrained sentence splitter)'
            ) from error
    raise ValueError(f"unknown self-BLEU tokenizer {tokenizer!r}; choose one of {TOKENIZERS}")


def _nltk_scorer(responses: list[str], n: int, smoothing: str, tokenizer: str):
    from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

    smoother = getattr(SmoothingFunction(), smoothing, None)
    if smoother is None or not smoothing.startswith("method"):
        raise ValueError(f"unknown nltk smoothing {smoothing!r}; use 'method0' … 'method7' (Texygen: 'method1')")
    tokens = [tokenize(text, tokenizer) for text in responses]
    weights = tuple(1.0 / n for _ in range(n))

    def score(hypothesis: int, references: list[int]) -> float:
        refs = [tokens[i] for i in references]
        return float(sentence_bleu(refs, tokens[hypothesis], weights, smoothing_function=smoother))

    return score


def _sacrebleu_scorer(responses: list[str], n: int, smoothing: str):
    from sacrebleu.metrics import BLEU

    if smoothing not in SACREBLEU_SMOOTHING:
        raise ValueError(f"unknown sacrebleu smoothing {smoothing!r}; choose one of {SACREBLEU_SMOOTHING}")
    bleu = BLEU(max_ngram_order=n, smooth_method=smoothing, effective_order=True)  # sentence_bleu's settings

    def score(hypothesis: int, references: list[int]) -> float:
        return bleu.sentence_score(responses[hypothesis], [responses[i] for i in references]).score / 100.0

    return score


def self_bleu(
    responses: list[str],
    n: int = 4,
    smoothing: str | None = None,
    sample_size: int | None = 500,
    seed: int = 0,
    tokenizer: str = "treebank",
    backend: str = "nltk",
    references: str = "all",
) -> SelfBleu:
    """Self-BLEU-``n`` of one set of responses (one response per prompt, as the paper's scripts apply it).

    Raises ValueError for fewer than 2 responses (a response has no other to be compared with) or unknown settings.
    """
    responses = list(responses)
    if len(responses) < 2:
        raise ValueError(f"self-BLEU needs at least 2 responses; got {len(responses)}")
    if backend not in BACKENDS:
        raise ValueError(f"unknown self-BLEU backend {backend!r}; choose one of {BACKENDS}")
    if references not in ("all", "sample"):
        raise ValueError(f"references must be 'all' or 'sample'; got {references!r}")
    if n < 1:
        raise ValueError(f"self-BLEU n must be >= 1; got {n}")
    smoothing = smoothing or DEFAULT_SMOOTHING[backend]
    everyone = list(range(len(responses)))
    hypotheses = everyone
    if sample_size is not None and len(responses) > sample_size:
        if sample_size < 2:
            raise ValueError(f"self-BLEU sample_size must be >= 2; got {sample_size}")
        rng = np.random.default_rng(seed)
        hypotheses = sorted(int(i) for i in rng.choice(len(responses), size=sample_size, replace=False))
    pool = hypotheses if references == "sample" else everyone
    if backend == "nltk":
        score = _nltk_scorer(responses, n, smoothing, tokenizer)
        tokenizer_name = tokenizer
    else:
        score = _sacrebleu_scorer(responses, n, smoothing)
        tokenizer_name = "13a"
    values = [score(h, [i for i in pool if i != h]) for h in hypotheses]
    return SelfBleu(
        value=float(np.mean(values)),
        n=n,
        smoothing=smoothing,
        tokenizer=tokenizer_name,
        sample_size=sample_size,
        n_responses=len(responses),
        n_hypotheses=len(hypotheses),
        backend=backend,
        references=references,
        seed=seed,
    )
