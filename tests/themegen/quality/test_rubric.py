import json

from themegen.quality.judging import verdict_key
from themegen.quality.rubric import RUBRIC_VERSION, InvalidVerdict, JudgeRow, Verdict, judge_content, parse_judgements

ROWS = [JudgeRow("a", "late parcel", ("late parcel",) * 6, "h"), JudgeRow("b", "配送", ("配送",) * 6, "h")]
ALL_PASS = ((True,) * 4,) * 6


def answer(judgements: list, rows_checked: int = 2) -> str:
    return json.dumps({"rows_checked": rows_checked, "judgements": judgements})


def test_only_rows_with_failures_are_listed_and_every_other_check_passes():
    found = parse_judgements(answer([{"n": 1, "failed": ["2s", "6l", "c"]}]), ROWS)
    assert found["a"] == Verdict(((True,) * 4, (True, False, True, True), *((True,) * 4,) * 3, (True, True, True, False)),
                                 False)
    assert found["a"].failed_checks == 3
    assert found["b"] == Verdict(ALL_PASS, True) and found["b"].failed_checks == 0


def test_an_answer_that_does_not_count_every_row_is_an_error_for_all_not_a_pass():
    for bad in (answer([], rows_checked=1), answer([{"n": 3, "failed": ["1g"]}]), answer([{"n": "1", "failed": []}])):
        found = parse_judgements(bad, ROWS)
        assert all(isinstance(v, InvalidVerdict) for v in found.values()), bad
    assert "1 rows checked of 2" in str(parse_judgements(answer([], rows_checked=1), ROWS)["a"])
    assert "names row 3 of a 2-row request" in str(parse_judgements(answer([{"n": 3, "failed": []}]), ROWS)["b"])


def test_malformed_codes_are_named_for_their_row():
    found = parse_judgements(answer([{"n": 1, "failed": ["7g"]}, {"n": 2, "failed": ["2x"]}]), ROWS)
    assert "'7g'" in str(found["a"]) and "6 themes" in str(found["a"]) and "'2x'" in str(found["b"])
    # the four-digit format of the rubric before is not read as a pass
    old = json.dumps({"judgements": [{"id": "a", "themes": ["1111"] * 6, "cover": True}]})
    assert all("not the judgements JSON" in str(v) for v in parse_judgements(old, ROWS).values())
    assert all("not the judgements JSON" in str(v) for v in parse_judgements("Sure! ...", ROWS).values())


def test_a_verdict_survives_the_cache_and_the_content_carries_texts_and_themes():
    verdict = Verdict(((True, False, True, True),) * 6, False)
    assert Verdict.from_json(verdict.to_json()) == verdict
    # rows are numbered within the request: a source id is not paid for in the question and the answer
    assert json.loads(judge_content(ROWS))["rows"][1] == {"n": 2, "text": "配送", "themes": ["配送"] * 6}


def test_cached_verdicts_of_the_four_digit_rubric_are_not_read_by_this_one():
    four_digit_version = "e9e319e3ec73"  # the rubric that answered four digits per theme
    assert RUBRIC_VERSION != four_digit_version
    assert f"/{RUBRIC_VERSION}/" in verdict_key(ROWS[0], "gemini-2.5-pro")
