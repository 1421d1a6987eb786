"""The naming request's contract (pure): the user turn the model (and the simulator) reads, the schema
it answers in, and the parser that keeps a bad answer for one cluster from costing the others."""

import json

import pytest

from themegen.taxonomy import ClusterName, ClusterToName, InvalidName
from themegen.taxonomy.naming import MAX_NAME_CHARS, NAMES_JSON_SCHEMA, NAMING_INSTRUCTION, naming_content, parse_names

BOTH = ClusterToName(id="c1", members=["late delivery", "配送の遅れ"], neighbours=["app crashes"], languages=["en", "ja"])
ENGLISH = ClusterToName(id="c2", members=["app crashes"], languages=["en"])


def answer(*names: dict) -> str:
    return json.dumps({"names": list(names)}, ensure_ascii=False)


def test_the_user_turn_lists_each_cluster_with_members_neighbours_and_languages():
    assert json.loads(naming_content([BOTH, ENGLISH])) == {"clusters": [
        {"id": "c1", "members": ["late delivery", "配送の遅れ"], "neighbours": ["app crashes"], "languages": ["en", "ja"]},
        {"id": "c2", "members": ["app crashes"], "neighbours": [], "languages": ["en"]}]}
    assert "配送の遅れ" in naming_content([BOTH])  # not escaped: the model reads the text as written


def test_the_schema_asks_for_a_names_array_of_id_en_ja():
    assert list(NAMES_JSON_SCHEMA["properties"]) == ["names"]
    item = NAMES_JSON_SCHEMA["$defs"]["_NameSchema"]
    assert set(item["properties"]) == {"id", "en", "ja"}
    assert "2 to 5 words" in NAMING_INSTRUCTION and "neighbours" in NAMING_INSTRUCTION


def test_each_cluster_gets_a_name_per_listed_language_and_none_for_others():
    parsed = parse_names(answer({"id": "c1", "en": " late  delivery ", "ja": "配送の遅れ"},
                                {"id": "c2", "en": "app crashes", "ja": "アプリ"}), [BOTH, ENGLISH])
    assert parsed == {"c1": ClusterName(en="late delivery", ja="配送の遅れ"), "c2": ClusterName(en="app crashes")}


@pytest.mark.parametrize(("item", "reason"), [
    (None, "no names for this cluster"),
    ({"id": "c1", "en": "late delivery", "ja": None}, "no ja name"),
    ({"id": "c1", "en": "   ", "ja": "配送"}, "no en name"),
    ({"id": "c1", "en": "x" * (MAX_NAME_CHARS + 1), "ja": "配送"}, "longer than"),
    ({"id": "c1", "en": "late delivery", "ja": "late delivery"}, "not Japanese"),
])
def test_a_bad_name_fails_its_cluster_only(item, reason):
    parsed = parse_names(answer(*([item] if item else []), {"id": "c2", "en": "app crashes", "ja": None}), [BOTH, ENGLISH])
    assert isinstance(parsed["c1"], InvalidName) and reason in str(parsed["c1"])
    assert parsed["c2"] == ClusterName(en="app crashes")


@pytest.mark.parametrize("text", [None, "", "Sure! Here are names", '{"names": "late delivery"}', "[]"])
def test_an_unreadable_answer_fails_every_cluster_with_the_reason(text):
    parsed = parse_names(text, [BOTH, ENGLISH])
    assert all(isinstance(r, InvalidName) and "not the names JSON" in str(r) for r in parsed.values())
    assert set(parsed) == {"c1", "c2"}
