"""Quality faults: a known share of a model's themes made generic, unsupported by the text, a near
repeat of another theme of the row, or in the other language (SimConfig.quality_faults, per model
name), so a "worse" and a "better" model exist locally and the judge (judge.py) has something to find.

Which theme gets which fault is a pure function of (model, text, position): the same text gets the
same themes on a retry, online or in a batch job. Every bad theme still passes the pipeline's
validator (six distinct, short themes): these are faults of meaning, not of form.
"""

from __future__ import annotations

import hashlib
import re

from .config import QualityFaults
from .themes import derive_themes
from .topics import VAGUE, VAGUE_FOLDED, generic_labels, language, sentence_topics, topic_labels

# Subjects no sample text touches: a theme made of them is supported by nothing in the text.
OFF_TOPIC = {
    "en": ("garden furniture", "pet insurance", "solar panels", "wine selection", "hotel booking",
           "car rental", "tax advice", "wedding planning"),
    "ja": ("園芸用品", "ペット保険", "太陽光パネル", "ワイン選び", "ホテル予約", "レンタカー", "税務相談"),
}
FAULTS = ("generic", "unsupported", "duplicated", "wrong_language")
# A near repeat: "the login problems" beside "login problems", "配送サービスなど" beside "配送サービス".
NEAR_REPEAT_PREFIX, NEAR_REPEAT_SUFFIX = "the ", "など"


def text_language(text: str) -> str:
    topics = sentence_topics(text)
    return language(topics.japanese_chars, topics.latin_letters)


def text_areas(text: str) -> list[str]:
    return list(sentence_topics(text).areas)


_WORD = re.compile(r"[a-z][a-z'-]{2,}")
_CJK_RUN = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff]{2,}")
GOOD_THEMES_TO_COVER = 4  # a row's six cover its text when at least this many pass every check


def grounded(theme: str, text: str) -> bool:
    """Nothing the theme claims is missing from the text: a word of it (its first 5 letters, so "crashes"
    finds "crashed"), two Japanese characters of it, or it names a topic the text signals."""
    folded, words, theme = text.casefold(), None, _normal(theme)  # a near repeat is judged as what it repeats
    if theme in folded or not specific(theme):  # a generic label claims nothing the text lacks
        return True
    for word in _WORD.findall(theme.casefold()):
        words = words if words is not None else {w[:5] for w in _WORD.findall(folded)}
        if word[:5] in words:
            return True
    for run in _CJK_RUN.findall(theme):
        if any(run[i:i + 2] in text for i in range(len(run) - 1)):
            return True
    areas = text_areas(text)
    labels = [label for lang in ("en", "ja") for label in topic_labels(areas, lang) + generic_labels(text, lang)]
    return theme in {_normal(label) for label in labels}


def specific(theme: str) -> bool:
    return _normal(theme) not in VAGUE_FOLDED


def _normal(theme: str) -> str:
    return theme.casefold().removeprefix(NEAR_REPEAT_PREFIX).removesuffix(NEAR_REPEAT_SUFFIX)


def distinct(themes: list[str]) -> list[bool]:
    """Each theme is not a near repeat of an earlier one (the later of two repeats is the bad one)."""
    seen: set[str] = set()
    flags = []
    for theme in themes:
        flags.append(_normal(theme) not in seen)
        seen.add(_normal(theme))
    return flags


def in_language(theme: str, text: str) -> bool:
    """The theme is in the text's language, or is a name the text itself uses ("Pixel 8")."""
    if _normal(theme) in text.casefold():
        return True
    return text_language(theme) == text_language(text)


def faults_for(faults: dict[str, QualityFaults], model: str) -> QualityFaults | None:
    """The model's faults: its own entry, else the '*' entry, else none (pure)."""
    found = faults.get(model) or faults.get("*")
    return found if found is not None and any(getattr(found, f) for f in FAULTS) else None


def _draw(model: str, text: str, position: int) -> float:
    digest = hashlib.sha256(f"{model}\x1f{position}\x1f{text}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _fault_at(faults: QualityFaults, u: float) -> str | None:
    edge = 0.0
    for name in FAULTS:
        edge += getattr(faults, name)
        if u < edge:
            return name
    return None


def near_repeat(theme: str) -> str:
    """The same theme in other words, as a model repeats itself."""
    return NEAR_REPEAT_PREFIX + theme if theme.isascii() else theme + NEAR_REPEAT_SUFFIX


def _fresh(candidates: list[str], themes: list[str], text: str, fault: str) -> str | None:
    """The first candidate not already a theme that has this fault and no other (the judge's checks)."""
    taken = {t.casefold() for t in themes}
    wanted = {"generic": (True, False, True), "unsupported": (False, True, True), "wrong_language": (True, True, False)}
    for candidate in candidates:
        found = (grounded(candidate, text), specific(candidate), in_language(candidate, text))
        if candidate.casefold() not in taken and found == wanted[fault]:
            return candidate
    return None


def _bad_theme(fault: str, themes: list[str], text: str) -> str | None:
    lang = text_language(text)
    other = "ja" if lang == "en" else "en"
    if fault == "generic":
        return _fresh(list(VAGUE[lang]), themes, text, fault)
    if fault == "unsupported":
        return _fresh(list(OFF_TOPIC[lang]), themes, text, fault)
    if fault == "wrong_language":  # the text's own topics, named in the other language
        return _fresh(topic_labels(text_areas(text), other) + generic_labels(text, other), themes, text, fault)
    raise ValueError(f"no such quality fault: {fault}")


def with_faults(text: str, model: str, faults: QualityFaults | None) -> list[str]:
    """derive_themes(text), each theme replaced by a bad one with its fault's share. A near repeat
    repeats a theme left as it was (the nearest earlier one, else the nearest later one, which then
    becomes the repeat), so each fault counts once."""
    themes = derive_themes(text)
    if faults is None:
        return themes
    drawn = {p: _fault_at(faults, _draw(model, text, p)) for p in range(len(themes))}
    clean = [p for p, fault in drawn.items() if fault is None]
    for position, fault in drawn.items():
        if fault in (None, "duplicated"):
            continue
        bad = _bad_theme(fault, themes, text)
        if bad is not None:
            themes[position] = bad
    for position in (p for p, fault in drawn.items() if fault == "duplicated"):
        earlier = [p for p in clean if p < position]
        later = [p for p in clean if p > position]
        if earlier:
            source, repeat = earlier[-1], position
        elif later:  # the repeat must come after what it repeats
            themes[position], source, repeat = themes[later[0]], position, later[0]
            clean.remove(later[0])
        else:
            continue
        bad = near_repeat(themes[source])
        if bad.casefold() not in {t.casefold() for t in themes}:
            themes[repeat] = bad
    return themes
