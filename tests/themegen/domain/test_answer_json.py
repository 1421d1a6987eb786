from themegen.domain.answer_json import listed


def test_the_list_under_the_field_or_none_when_the_answer_is_not_that_json():
    assert listed('{"names": [{"id": "1"}]}', "names") == [{"id": "1"}]
    for text in (None, "", "not json", "[1, 2]", '{"other": []}', '{"names": {"id": "1"}}'):
        assert listed(text, "names") is None, text
