import json

from themegen.quality.rubric import InvalidVerdict, JudgeRow, Verdict, judge_content, parse_judgements

ROWS = [JudgeRow("a", "late parcel", ("late parcel",) * 6, "h"), JudgeRow("b", "配送", ("配送",) * 6, "h")]


def test_each_row_gets_its_verdict_or_the_reason_it_has_none():
    answer = json.dumps({"judgements": [
        {"id": "a", "themes": ["1111", "1011", "1111", "1111", "1111", "1110"], "cover": True},
        {"id": "zzz", "themes": ["1111"] * 6, "cover": True},
    ]})
    found = parse_judgements(answer, ROWS)
    assert found["a"] == Verdict(((True,) * 4, (True, False, True, True), *((True,) * 4,) * 3, (True, True, True, False)), True)
    assert found["a"].failed_checks == 2
    assert isinstance(found["b"], InvalidVerdict) and "no verdict" in str(found["b"])


def test_malformed_verdicts_are_named():
    bad = {"judgements": [{"id": "a", "themes": ["11"] * 6, "cover": True},
                          {"id": "b", "themes": ["1111"] * 5, "cover": True}]}
    found = parse_judgements(json.dumps(bad), ROWS)
    assert "4 digits" in str(found["a"]) and "expected 6" in str(found["b"])
    assert all("not the judgements JSON" in str(v) for v in parse_judgements("Sure! ...", ROWS).values())


def test_a_verdict_survives_the_cache_and_the_content_carries_texts_and_themes():
    verdict = Verdict(((True, False, True, True),) * 6, False)
    assert Verdict.from_json(verdict.to_json()) == verdict
    assert json.loads(judge_content(ROWS[1:]))["rows"] == [{"id": "b", "text": "配送", "themes": ["配送"] * 6}]
