import json

import pytest

from themegen.prompt import InvalidAnswer, input_hash, parse_answer, user_content, validate_themes

SIX = ["delivery delay", "damaged box", "refund request", "support wait", "app crash", "price"]


def test_valid_answer_is_cleaned():
    answer = json.dumps({"themes": ["  delivery   delay ", *SIX[1:]]})
    assert parse_answer(answer) == SIX


@pytest.mark.parametrize(
    ("themes", "reason"),
    [
        (SIX[:5], "expected 6 themes, got 5"),
        (SIX + ["extra"], "expected 6 themes, got 7"),
        (SIX[:5] + [" "], "a theme is empty"),
        (SIX[:5] + ["Delivery Delay"], "not distinct"),
        (SIX[:5] + ["x" * 61], "theme too long"),
        (SIX[:5] + ["one two three four five six seven"], "theme too long"),
        ("delivery", "not a list of strings"),
        (SIX[:5] + [3], "not a list of strings"),
    ],
)
def test_invalid_themes_name_the_problem(themes, reason):
    with pytest.raises(InvalidAnswer, match=reason):
        validate_themes(themes)


@pytest.mark.parametrize(
    ("text", "reason"),
    [(None, "empty answer"), ("", "empty answer"), ('{"themes": [', "not JSON"), ('{"topics": []}', "no 'themes'"),
     ("[1, 2]", "no 'themes'")],
)
def test_unparseable_answers(text, reason):
    with pytest.raises(InvalidAnswer, match=reason):
        parse_answer(text)


def test_user_content_keeps_id_and_text_unambiguous():
    text = 'quote " newline \n and {"rows": 1} 日本語'
    assert json.loads(user_content([("id-1", text)])) == {"rows": [{"id": "id-1", "text": text}]}


def test_input_hash_is_sha256_hex_and_depends_on_text():
    assert len(input_hash("a")) == 64
    assert input_hash("a") != input_hash("b")
