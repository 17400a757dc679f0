"""Is a prompt English? For datasets without a language field (PRISM: ~1% of its conversations open in another
language; Community Alignment has ``assigned_lang``). langdetect (seeded, so the answer is the same every run) is
unreliable on short texts ("Tell me a joke" reads as Finnish), so a text is left out only when langdetect is sure
(p >= 0.99) it is another language, it holds none of the common English words below, and (in ASCII) it has at
least 4 words."""

from __future__ import annotations

import re

ENGLISH_WORDS = frozenset(
    "the is are was to of and you your what how why when which who me my for can could do does it this that "
    "with should would tell about give write please hi hello hey thanks".split()
)
SURE = 0.99


def looks_english(text: str) -> bool:
    """False only for a text that langdetect is sure is not English and that has no common English word."""
    words = re.findall(r"[a-z']+", text.lower())
    if set(words) & ENGLISH_WORDS or not re.search(r"[^\W\d_]", text):
        return True
    if text.isascii() and len(text.split()) < 4:  # too short to tell ("ok thx"): kept
        return True
    from langdetect import DetectorFactory, LangDetectException, detect_langs

    DetectorFactory.seed = 0
    try:
        best = detect_langs(text)[0]
    except LangDetectException:  # no letters it knows: keep the text
        return True
    return best.lang == "en" or best.prob < SURE
