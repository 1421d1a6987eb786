import json

import pytest

from themegen.domain.prompt import InvalidAnswer, input_hash, parse_answer, parse_items, user_content, validate_themes

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


@pytest.mark.parametrize(
    "wrap",
    ["```json\n{}\n```", "```\n{}\n```", "  ```JSON\n{}```\n", "```json {} ```", "\n```json\r\n{}\r\n```\n\n"],
    ids=["json-fence", "bare-fence", "padded", "one-line", "crlf"],
)
def test_an_answer_in_a_code_fence_is_read_and_validated_as_usual(wrap):
    assert parse_answer(wrap.replace("{}", json.dumps({"themes": SIX}))) == SIX
    with pytest.raises(InvalidAnswer, match="expected 6 themes, got 5"):
        parse_answer(wrap.replace("{}", json.dumps({"themes": SIX[:5]})))


def test_a_packed_answer_in_a_code_fence_is_read_per_item():
    items = {"items": [{"id": "a", "themes": SIX}, {"id": "b", "themes": SIX[:5]}]}
    found = parse_items(f"```json\n{json.dumps(items)}\n```", ["a", "b"])
    assert found["a"] == SIX
    assert isinstance(found["b"], InvalidAnswer) and "got 5" in str(found["b"])


@pytest.mark.parametrize(
    "text",
    ["Here you go:\n```json\n{}\n```", "```json\n{}", "```json\n{}\n```\nHope this helps!"],
    ids=["prose-before", "unclosed", "prose-after"],
)
def test_only_a_fence_around_the_whole_answer_is_stripped(text):
    with pytest.raises(InvalidAnswer, match="not JSON"):
        parse_answer(text.replace("{}", json.dumps({"themes": SIX})))


def test_user_content_keeps_id_and_text_unambiguous():
    text = 'quote " newline \n and {"rows": 1} 日本語'
    assert json.loads(user_content([("id-1", text)])) == {"rows": [{"id": "id-1", "text": text}]}


def test_input_hash_is_sha256_hex_and_depends_on_text():
    assert len(input_hash("a")) == 64
    assert input_hash("a") != input_hash("b")


def test_a_prompt_file_replaces_the_instructions_and_the_output_contract_stays(tmp_path):
    from themegen.config.settings import Settings
    from themegen.domain.prompt import OUTPUT_CONTRACT, SYSTEM_INSTRUCTION, prompt_of

    path = tmp_path / "prompt.txt"
    path.write_text("You label app reviews. Return 3 themes of one word.\n")
    settings = Settings.model_construct().with_overrides(prompt_file=str(path))
    prompt = prompt_of(settings)
    assert prompt.system_instruction().startswith("You label app reviews. Return 3 themes of one word.")
    assert prompt.system_instruction().endswith(OUTPUT_CONTRACT) and "exactly 6" in OUTPUT_CONTRACT
    built_in = prompt_of(Settings.model_construct())
    assert built_in.instructions == SYSTEM_INSTRUCTION and built_in.fingerprint != prompt.fingerprint
    path.write_text("You label app reviews. Return 3 themes of one word. ")  # only blanks differ: the same prompt
    assert prompt_of(settings).fingerprint == prompt.fingerprint
    path.write_text("You label app reviews.")
    assert prompt_of(settings).fingerprint != prompt.fingerprint
    # the block's text field wins over the file
    assert prompt_of(settings.with_overrides(prompt_instructions="Label tickets.")).instructions == "Label tickets."


@pytest.mark.parametrize("content", [None, "", "  \n", b"\xff\xfe bad"], ids=["missing", "empty", "blank", "not-utf8"])
def test_an_unusable_prompt_file_is_a_clear_error_naming_the_setting(tmp_path, content):
    from themegen.config.settings import Settings
    from themegen.domain.prompt import PromptError, prompt_of

    path = tmp_path / "prompt.txt"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    with pytest.raises(PromptError, match=f"THEMEGEN_PROMPT_FILE={path}"):
        prompt_of(Settings.model_construct().with_overrides(prompt_file=str(path)))
