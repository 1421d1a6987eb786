import hashlib
import json
import time
from collections import Counter

import pytest

from local_stack.sample_data import NEW_TOPICS, generate_rows

N = 30_000


def _rows(n: int = N, seed: int = 0) -> list[dict]:
    return list(generate_rows(n, seed))


def test_same_seed_gives_identical_rows_and_other_seeds_differ():
    assert _rows(500) == _rows(500)
    assert [r["text"] for r in _rows(500, seed=1)] != [r["text"] for r in _rows(500)]


def test_a_prefix_of_rows_does_not_depend_on_n():
    assert _rows(100) == _rows(1000)[:100]


def test_ids_are_unique_zero_padded_and_sorted():
    ids = [r["id"] for r in _rows()]
    assert ids[0] == "fb-000001" and ids[-1] == "fb-030000"
    assert len(set(ids)) == N
    assert ids == sorted(ids)  # string order is numeric order


def test_row_shape():
    for row in _rows(1000):
        assert set(row) == {"id", "text", "lang", "created_at"}
        assert row["lang"] in {"ja", "en", "mixed"}
        assert row["text"] is None or isinstance(row["text"], str)
        assert row["created_at"].endswith("Z") and "T" in row["created_at"]


def test_share_of_missing_and_blank_texts():
    rows = _rows()
    missing = sum(r["text"] is None for r in rows) / N
    blank = sum(r["text"] is not None and not r["text"].strip() for r in rows) / N
    assert 0.002 < missing < 0.01
    assert 0.002 < blank < 0.01


def test_language_mix():
    shares = {lang: count / N for lang, count in Counter(r["lang"] for r in _rows()).items()}
    assert 0.35 < shares["ja"] < 0.45
    assert 0.40 < shares["en"] < 0.50
    assert 0.10 < shares["mixed"] < 0.20


def test_texts_match_their_language():
    def has_japanese(text: str) -> bool:
        return any("\u3040" <= ch <= "\u30ff" or "\u4e00" <= ch <= "\u9fff" for ch in text)

    texts = [r for r in _rows(2000) if r["text"] and r["text"].strip()]
    assert all(has_japanese(r["text"]) for r in texts if r["lang"] == "ja")
    assert not any(has_japanese(r["text"]) for r in texts if r["lang"] == "en")
    mixed = [r["text"] for r in texts if r["lang"] == "mixed"]
    assert sum(has_japanese(t) and any("a" <= ch.lower() <= "z" for ch in t) for t in mixed) > len(mixed) / 2


def test_lengths_vary_from_one_sentence_to_paragraphs():
    lengths = [len(r["text"]) for r in _rows() if r["text"] and r["text"].strip()]
    assert min(lengths) >= 20 and max(lengths) <= 1500
    assert sum(n < 60 for n in lengths) > 0.1 * len(lengths)
    assert sum(n > 500 for n in lengths) > 0.05 * len(lengths)
    assert any("\n\n" in r["text"] for r in _rows(1000) if r["text"])


def test_rows_touch_different_themes():
    texts = {r["text"] for r in _rows(1000) if r["text"] and r["text"].strip()}
    assert len(texts) > 800  # one-sentence feedback may repeat, as it does in real tables
    keywords = ["deliver", "crash", "charged", "support", "price", "log in", "return", "配達", "返品", "ログイン"]
    assert all(any(k in t for t in texts) for k in keywords)


def test_thirty_thousand_rows_are_fast():
    # CPU time of this process, so a busy machine (other test processes) cannot make it flaky.
    started = time.process_time()
    assert sum(1 for _ in generate_rows(N)) == N
    assert time.process_time() - started < 2.0


def test_the_default_sample_is_the_one_every_other_test_was_written_against():
    # The digest of the first 3,000 rows from before rows of new topics could be asked for.
    rows = json.dumps(_rows(3000), ensure_ascii=False).encode()
    assert hashlib.sha256(rows).hexdigest() == "45ae863ef983c9ce7d70f2f38a3049ad17752aa4f9d99f884094252a00e3e8e3"


def test_rows_of_a_new_topic_continue_the_ids_and_speak_only_of_it():
    added = list(generate_rows(3000, seed=1, topics=NEW_TOPICS, first_id=N + 1))
    assert (added[0]["id"], added[-1]["id"]) == ("fb-030001", "fb-033000")
    texts = [r["text"] for r in added if r["text"] and r["text"].strip()]
    assert all("gift" in t.lower() or "wrap" in t.lower() or "ギフト" in t or "ラッピング" in t or "包装" in t
               or "リボン" in t or "ribbon" in t for t in texts)
    assert added == list(generate_rows(3000, seed=1, topics=NEW_TOPICS, first_id=N + 1))


def test_an_unknown_topic_is_refused_by_name():
    with pytest.raises(ValueError, match="unknown: \\['gardening'\\]"):
        next(generate_rows(1, topics=("gardening",)))
