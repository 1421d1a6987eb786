"""Deterministic "model output": six short themes derived from a row's text.

Tests compare what the pipeline stored with `derive_themes(text)`, so this must stay a pure
function of the text (no RNG, no process-dependent `hash()`).
"""

import hashlib
import re
from collections import Counter
from functools import lru_cache

THEME_COUNT = 6
MAX_THEME_CHARS = 40

# Lowercase latin words of 3+ letters (accented letters included, so French/German text works).
_LATIN_WORD = re.compile(r"[a-zà-öø-ÿ]{3,}")
# Runs of Katakana (with the long-vowel mark) or of Kanji are the closest thing Japanese has to
# content words without a morphological analyser. Katakana needs 2+ characters to skip the
# odd single kana; a single Kanji ("猫") is a real word.
_KATAKANA_RUN = re.compile(r"[\u30a1-\u30faー]{2,}")
_KANJI_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff々]+")
# Fallback for short or kana-only text: bigrams inside any run of Japanese/CJK characters.
_CJK_RUN = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff々]{2,}")

_STOPWORDS = frozenset(
    """
    the and for are but not you all any can had her was one our out day get has him his how man
    new now old see two way who boy did its let put say she too use that with have this will your
    from they know want been good much some time very when come here just like long make many
    more only over such take than them well were what into about also could other their there
    these which would should because while where after before being does each most those then
    """.split()
)


def _ranked_candidates(text: str) -> list[str]:
    """Content words/runs ordered by frequency, ties broken by first occurrence."""
    lowered = text.lower()
    first_seen: dict[str, int] = {}
    counts: Counter[str] = Counter()
    matches = [m for m in _LATIN_WORD.finditer(lowered) if m.group() not in _STOPWORDS]
    matches += _KATAKANA_RUN.finditer(text)
    matches += _KANJI_RUN.finditer(text)
    for match in matches:
        word = match.group()[:MAX_THEME_CHARS]
        counts[word] += 1
        first_seen.setdefault(word, match.start())
    return sorted(counts, key=lambda w: (-counts[w], first_seen[w]))


def _cjk_bigrams(text: str) -> list[str]:
    bigrams: list[str] = []
    for run in _CJK_RUN.findall(text):
        bigrams += (run[i : i + 2] for i in range(len(run) - 1))
    return bigrams


@lru_cache(maxsize=65536)  # the simulator answers the same rows again on retries and benchmarks
def _derive(text: str) -> tuple[str, ...]:
    themes: list[str] = []
    for candidate in _ranked_candidates(text) + _cjk_bigrams(text):
        if candidate not in themes:
            themes.append(candidate)
            if len(themes) == THEME_COUNT:
                return tuple(themes)
    digest = hashlib.sha256(text.encode()).hexdigest()[:8]
    themes += (f"theme-{digest}-{n}" for n in range(len(themes) + 1, THEME_COUNT + 1))
    return tuple(themes)


def derive_themes(text: str) -> list[str]:
    """Exactly six distinct, non-empty themes (each <= 40 chars, one word) derived from `text`."""
    return list(_derive(text))
