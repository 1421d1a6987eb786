"""The simulator's themes: six believable labels derived from the text, in the shape the pipeline
accepts. Japanese is checked against janome's own segmentation, not against our phrase code."""

import re

import pytest
from janome.tokenizer import Tokenizer

from local_stack.gemini_sim import derive_themes
from local_stack.sample_data import generate_rows
from themegen.domain.prompt import validate_themes

ENGLISH = "Solar panels and wind turbines: renewable energy makes energy cheaper, solar especially."
JAPANESE = "発送のお知らせが一度も届きませんでした。サイトの返品ポリシーとサポートの説明が違います。"
PLACEHOLDER = re.compile(r"^theme-[0-9a-f]+-\d+$")
SAMPLE = [r for r in generate_rows(1500, seed=14) if r["text"] and r["text"].strip()]


def assert_usable(themes: list[str]) -> None:
    """What the pipeline and a person reading the table rely on."""
    assert len(themes) == 6 and validate_themes(themes) == themes  # distinct (casefolded), short, clean
    assert all(len(t) >= 2 and not PLACEHOLDER.match(t) for t in themes), themes
    assert all(len(t) <= 40 and len(t.split()) <= 4 for t in themes), themes  # 1-4 words, as the prompt asks


@pytest.mark.parametrize(
    "text",
    [ENGLISH, JAPANESE, "東京オリンピックの opening ceremony は great でした。Volunteers とスタッフに感謝。",
     "ok", "猫", "届", "", "   ", "x" * 500, "!!! ???", "Refund!", "ログイン"],
    ids=["english", "japanese", "mixed", "short-latin", "one-kanji", "one-kanji-verb-stem", "empty",
         "blank", "one-long-word", "punctuation", "one-word", "one-japanese-word"],
)
def test_always_six_usable_themes_and_the_same_for_the_same_text(text):
    themes = derive_themes(text)
    assert_usable(themes)
    assert derive_themes(text) == themes


def test_every_sample_row_gets_usable_themes():
    for row in SAMPLE:
        assert_usable(derive_themes(row["text"]))


def test_english_themes_are_key_phrases_of_several_words():
    assert derive_themes(ENGLISH)[:3] == ["solar panels", "wind turbines", "renewable energy"]
    for row in (r for r in SAMPLE if r["lang"] == "en"):
        themes = derive_themes(row["text"])
        assert " " in themes[0] and sum(" " in t for t in themes) >= 2, (row["text"], themes)


def test_a_capital_that_only_starts_the_sentence_is_dropped_but_names_keep_theirs():
    assert "delivery" in derive_themes("Delivery was fast.")
    assert "Pixel 8 battery" in derive_themes("Pixel 8 battery is poor.")


def test_japanese_themes_are_whole_words_of_the_text_or_topic_labels():
    tokenizer = Tokenizer()
    japanese = [r["text"] for r in SAMPLE if r["lang"] == "ja"][:200]
    lifted = 0
    for text in japanese:
        bounds = {0}
        for token in tokenizer.tokenize(text):
            bounds.add(max(bounds) + len(token.surface))
        for theme in derive_themes(text):
            start = text.find(theme)
            if start >= 0:  # lifted from the text: it must start and end where janome's words do
                assert {start, start + len(theme)} <= bounds, (theme, text)
                lifted += 1
            else:  # otherwise a label of the text's topic, never a fragment such as "送の" or "のお"
                assert len(theme) >= 4 and theme[0] not in "のがをにはで", (theme, text)
    assert lifted >= 2 * len(japanese)  # mostly the text's own words, not canned labels


def test_japanese_compounds_and_no_pairs_stay_together():
    themes = derive_themes(JAPANESE)
    assert {"発送のお知らせ", "サイトの返品ポリシー", "サポートの説明"} <= set(themes)
    assert not {"発送", "お知らせ", "送の", "のお"} & set(themes)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("ok", {"customer feedback", "user experience"}), ("猫", {"お客様の声", "利用体験"}),
     ("Refund!", {"refund", "payments and refunds"}), ("ログイン", {"ログイン", "ログインの問題"})],
)
def test_a_short_text_is_filled_with_labels_of_its_topic_and_language(text, expected):
    assert expected <= set(derive_themes(text))


def test_themes_follow_the_text():
    assert derive_themes("The courier left the parcel outside.") != derive_themes("The premium plan is too expensive.")
    assert "delivery experience" in derive_themes("The courier left the parcel outside.")
    assert "料金設定" in derive_themes("予告なしに料金が480円も上がりました。")
