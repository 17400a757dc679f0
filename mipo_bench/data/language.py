"""Is a prompt English? For datasets without a language field (PRISM: ~1% of its conversations open in another
language; Community Alignment has ``assigned_lang``). langdetect (seeded, so the answer is the same every run) is
unreliable on short texts ("Tell me a joke" reads as Finnish), so a text is kept when common English words make up at
least a quarter of its words (ordinary English prose: 40-60%), and left out only when, below that share, langdetect is
sure (p >= 0.99) it is another language; short ASCII texts (under 4 words) are kept. One shared word is not enough:
"Was ist der Sinn des Lebens?" (was) and "Wat is de beste manier om te leren?" (is) are German and Dutch."""

from __future__ import annotations

import re

ENGLISH_WORDS = frozenset(
    "a an the is are was were be been to of and or but not no in on at by from as if so than then there here "
    "i you he she we they it me him her us them my your his our their its this that these those "
    "what how why when where which who whom can could do does did have has had will would shall should may might "
    "must for with about into over some any all more most much many very just also only tell give write make "
    "please explain help hi hello hey thanks".split()
)
ENGLISH_SHARE = 0.25  # of a text's words, at least this many common English ones keep it
SURE = 0.99


def looks_english(text: str) -> bool:
    """False only for a text that langdetect is sure is not English and whose words are not a quarter English."""
    words = re.findall(r"[a-z']+", text.lower())
    if not re.search(r"[^\W\d_]", text):
        return True
    if words and sum(w in ENGLISH_WORDS for w in words) >= ENGLISH_SHARE * len(words):
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
