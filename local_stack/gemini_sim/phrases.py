"""Key phrases of a text for the simulator's themes: multi-word English phrases and Japanese
compound nouns, the kind of short label a model gives.

English uses the RAKE idea (a phrase is a run of content words between stopwords and
punctuation). Japanese has no spaces, so janome (a morphological analyser whose dictionary ships in
its wheel) splits it into words; runs of nouns form compounds ("返品ポリシー") and "AのB" pairs
stay together ("発送のお知らせ"). Work is cached per sentence: feedback repeats sentences a lot, and
janome costs about a millisecond per sentence while a cache hit costs microseconds.
"""

from __future__ import annotations

import re
from functools import cache, lru_cache
from typing import NamedTuple

MAX_PHRASE_WORDS = 4
MAX_JA_PHRASE_CHARS = 14  # longer Japanese compounds read like a clause, not a label


class Phrase(NamedTuple):
    text: str
    weight: int  # content words in it (capped): longer phrases say more than one word


# Sentence ends; a latin period only before whitespace so "4.2.0" stays whole.
_SENTENCE_END = re.compile(r"(?<=[。！？])|(?<=[.!?])\s+|\n+")
# A number right before Japanese goes with it, so janome reads "10日" as a count, not "日" as a
# noun; not one that ends a product name ("Galaxy S24で", "Pixel 8の").
_JAPANESE_RUN = re.compile(
    r"(?:(?<![A-Za-z\d.,])(?<![A-Za-z] )\d+(?:[.,]\d+)*)?[\u3005\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uff66-\uff9f]+"
)
_LATIN_TOKEN = re.compile(
    r"(?P<word>[A-Za-zÀ-ÖØ-öø-ÿ][A-Za-zÀ-ÖØ-öø-ÿ0-9'’-]*)|(?P<number>\d+(?:[.,]\d+)*)"
    r"|(?P<stop>[^\sA-Za-z0-9])"
)

# Function words, and verbs/adverbs/units too common in feedback to name a theme.
_EN_STOPWORDS = frozenset(
    """
    a about above after again against all almost already also always am an and any anymore are
    around as at back be because been before being below between both but by can cannot could did
    do does doing done down during each either else even ever every everything far few for from
    further get gets getting got had has have having he her here hers him his how however i if in
    into is it its itself just keep keeps kept let like made make makes many may me might more most
    much must my myself never no nobody nor not nothing now of off often on once one only or other
    our out over own please quite rather really said same say says see seems she should since so
    some something still such than thank thanks that the their them then there these they thing
    this those though three through time times to too took twice two under until up upon us use
    used uses using very was way we well went were what when where whether which while who why will
    with within without would yet you your yours
    able again anyone anything came come comes find found gave give given go goes going gone happen
    happened happens ask asked last left look looks looked need needs new next old open opened
    probably put seen send sent set show showed showing take takes tell told think tried try
    trying turn turned want wanted appear appears completely compared especially instantly quickly quick
    inside otherwise outside
    day days week weeks minute minutes second seconds hour hours month months year years yen
    hi hello ok okay yes
    """.split()
)
# Content-free nouns that janome marks as ordinary nouns.
_JA_STOPWORDS = frozenset("今回 前回 最初 全部 全体 理由 内容 以上 以降 直後 毎回 お世話 お願い 投稿".split())
# Noun subclasses that are content words; 数 and 接尾 may join a compound but not carry it.
_JA_CONTENT = frozenset(("一般", "サ変接続", "固有名詞", "ナイ形容詞語幹"))
_JA_JOINING = frozenset(("数", "接尾"))


def split_sentences(text: str) -> list[str]:
    return [s for s in _SENTENCE_END.split(text) if s and not s.isspace()]


def _english_phrases(chunk: str, sentence_start: bool) -> list[Phrase]:
    runs: list[tuple[list[str], bool]] = [([], sentence_start)]  # (content words, opens a sentence)
    for match in _LATIN_TOKEN.finditer(chunk):
        token, words = match.group(), runs[-1][0]
        if match.lastgroup == "word" and token.lower().replace("’", "'") not in _EN_STOPWORDS:
            words.append(token)
        elif match.lastgroup == "number" and words and not words[-1].islower():
            words.append(token)  # "iPhone 15", "Pixel 8"; not "arrived 3" of "arrived 3 days late"
        else:
            runs.append(([], token in ".:!?"))  # "Quick feedback: Delivery was fast"
    return [phrase for words, opens in runs if words for phrase in _english_phrase(words, opens)]


def _english_phrase(words: list[str], opens_sentence: bool) -> list[Phrase]:
    kept = words[-MAX_PHRASE_WORDS:]  # the head noun of an English phrase comes last
    # A capital that only marks the sentence start is not part of the theme ("Delivery was"),
    # unless a name goes on ("Galaxy S24").
    name_goes_on = len(kept) > 1 and not kept[1].islower()
    if opens_sentence and len(kept) == len(words) and kept[0][1:].islower() and not name_goes_on:
        kept[0] = kept[0].lower()
    if len(kept) > 1 or _is_single_word_theme(kept[0]):
        return [Phrase(" ".join(kept), min(len(kept), 3))]
    return []


def _is_single_word_theme(word: str) -> bool:
    """A lone word is a theme if it is a word of some length or an acronym ("SMS", "UI")."""
    return len(word) >= 4 or (len(word) >= 2 and word.isupper())


@cache
def _tokenizer():
    from janome.tokenizer import Tokenizer  # imported on first use: loading it takes ~0.1 s

    return Tokenizer()


def _japanese_phrases(run: str) -> list[Phrase]:
    """Compound nouns of one run of Japanese, "AのB" kept together."""
    items: list[tuple[str, int] | str | None] = []  # (compound, content words) | "の" | break
    surface, content = "", 0
    for token in _tokenizer().tokenize(run):
        pos, sub = token.part_of_speech.split(",", 2)[:2]
        # janome files "," and "." inside "5,500" as nouns: only a token with letters says something.
        says = sub in _JA_CONTENT and any(c.isalpha() for c in token.surface)
        joins = (pos == "名詞" and (says or (surface and sub in _JA_JOINING) or sub == "数")) or (
            pos == "接頭詞" and not surface)  # a prefix ("再", "お") only opens a compound
        if joins and token.surface not in _JA_STOPWORDS:
            surface += token.surface
            content += says
            continue
        items.append((surface, content) if content else None)
        items.append("の" if token.surface == "の" and sub == "連体化" else None)
        surface, content = "", 0
    items.append((surface, content) if content else None)
    return _join_no_pairs(items)


def _join_no_pairs(items: list) -> list[Phrase]:
    phrases: list[Phrase] = []
    i = 0
    while i < len(items):
        item = items[i]
        if isinstance(item, tuple):
            later = items[i + 2] if i + 2 < len(items) else None
            if items[i + 1 : i + 2] == ["の"] and isinstance(later, tuple):
                paired = f"{item[0]}の{later[0]}"
                if len(paired) <= MAX_JA_PHRASE_CHARS:
                    phrases.append(Phrase(paired, min(item[1] + later[1], 3)))
                    i += 3
                    continue
            if 2 <= len(item[0]) <= MAX_JA_PHRASE_CHARS:
                phrases.append(Phrase(item[0], min(item[1], 3)))
        i += 1
    return phrases


@lru_cache(maxsize=65536)
def sentence_phrases(sentence: str) -> tuple[Phrase, ...]:
    """Key phrases of one sentence in order of appearance; Japanese runs go to janome, the latin
    text between them (English words in Japanese sentences, or English sentences) to RAKE."""
    phrases: list[Phrase] = []
    position = 0
    for run in _JAPANESE_RUN.finditer(sentence):
        phrases += _english_phrases(sentence[position : run.start()], sentence_start=position == 0)
        phrases += _japanese_phrases(run.group())
        position = run.end()
    phrases += _english_phrases(sentence[position:], sentence_start=position == 0)
    return tuple(phrases)
