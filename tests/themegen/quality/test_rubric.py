import json

from themegen.quality.judging import verdict_key
from themegen.quality.rubric import RUBRIC_VERSION, InvalidVerdict, JudgeRow, Verdict, judge_content, parse_judgements

ROWS = [JudgeRow("a", "late parcel", ("late parcel",) * 6, "h"), JudgeRow("b", "配送", ("配送",) * 6, "h")]
ALL_PASS = ((True,) * 4,) * 6


def test_only_failures_are_listed_and_every_other_check_passes():
    answer = json.dumps({"judgements": [{"n": 1, "failed": ["2s", "6l", "c"]}, {"n": 2, "failed": []}]})
    found = parse_judgements(answer, ROWS)
    assert found["a"] == Verdict(((True,) * 4, (True, False, True, True), *((True,) * 4,) * 3, (True, True, True, False)),
                                 False)
    assert found["a"].failed_checks == 3
    assert found["b"] == Verdict(ALL_PASS, True) and found["b"].failed_checks == 0


def test_a_skipped_row_is_an_error_not_a_pass():
    found = parse_judgements(json.dumps({"judgements": [{"n": 1, "failed": []}, {"n": 7, "failed": []}]}), ROWS)
    assert found["a"] == Verdict(ALL_PASS, True)
    assert isinstance(found["b"], InvalidVerdict) and "no verdict" in str(found["b"])


def test_malformed_verdicts_are_named():
    bad = {"judgements": [{"n": 1, "failed": ["7g"]}, {"n": 2, "themes": ["1111"] * 6, "cover": True}]}
    found = parse_judgements(json.dumps(bad), ROWS)
    assert "'7g'" in str(found["a"]) and "6 themes" in str(found["a"])
    assert "not a list of failure codes" in str(found["b"])  # the old four-digit format is not read as a pass
    assert "'2x'" in str(parse_judgements(json.dumps({"judgements": [{"n": 1, "failed": ["2x"]}]}), ROWS)["a"])
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
