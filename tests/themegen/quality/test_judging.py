"""judge_rows: verdicts cached per row, paid once; rows with the same text and themes asked once."""

from __future__ import annotations

from themegen.cache import CachedAnswer
from themegen.domain.models import LlmUsage
from themegen.quality.judging import judge_rows
from themegen.quality.rubric import InvalidVerdict, JudgeRow, Verdict

PASS = Verdict(((True,) * 4,) * 6, True)
THEMES = ("a", "b", "c", "d", "e", "f")


class MemoryCache:
    def __init__(self) -> None:
        self.entries: dict[str, CachedAnswer] = {}

    async def get_many(self, keys: list[str]) -> dict[str, CachedAnswer]:
        return {key: self.entries[key] for key in keys if key in self.entries}

    async def put(self, key: str, answer: CachedAnswer) -> None:
        self.entries[key] = answer


class CountingJudge:
    def __init__(self, refuse: set[str] = frozenset()) -> None:
        self.usage, self.asked, self.refuse = LlmUsage(), [], refuse

    async def judge(self, rows: list[JudgeRow]) -> dict[str, Verdict | InvalidVerdict]:
        self.asked += [row.id for row in rows]
        return {row.id: InvalidVerdict("refused: test") if row.text in self.refuse else PASS for row in rows}


async def test_rows_with_the_same_text_and_themes_are_asked_once_and_each_gets_the_verdict():
    rows = [JudgeRow("r1", "late parcel", THEMES, "h1"), JudgeRow("r2", "late parcel", THEMES, "h1"),
            JudgeRow("r3", "late parcel", THEMES[::-1], "h1"), JudgeRow("r4", "app crash", THEMES, "h2")]
    judge, cache = CountingJudge(), MemoryCache()
    judged = await judge_rows(rows, judge, cache, "gemini-2.5-pro", 20)
    assert judge.asked == ["r1", "r3", "r4"]  # r2 repeats r1's text and themes; r3's themes differ
    assert set(judged.verdicts) == {"r1", "r2", "r3", "r4"} and len(cache.entries) == 4

    again = await judge_rows(rows, CountingJudge(), cache, "gemini-2.5-pro", 20)
    assert again.from_cache == 4 and set(again.verdicts) == set(judged.verdicts)


async def test_a_refused_verdict_counts_against_every_row_that_shares_it():
    rows = [JudgeRow("r1", "late parcel", THEMES, "h1"), JudgeRow("r2", "late parcel", THEMES, "h1")]
    judged = await judge_rows(rows, CountingJudge(refuse={"late parcel"}), MemoryCache(), "gemini-2.5-pro", 20)
    assert judged.verdicts == {} and judged.errors == {"refused": 2}
