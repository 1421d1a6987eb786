"""The simulator's quality faults (per model name) and its judge, through our real generator and
judge adapters: a "worse" model's themes carry the configured share of bad themes, which still pass
the validator; the judge finds exactly those; judge requests are counted apart."""

from __future__ import annotations

import httpx
import pytest

from local_stack.gemini_sim import SimConfig, derive_themes, running_simulator
from local_stack.gemini_sim.config import QualityFaults
from local_stack.sample_data import generate_rows
from tests.themegen.llm.gemini.test_generator import settings_for
from themegen.domain.models import RowFailure
from themegen.domain.prompt import input_hash, prepare_text
from themegen.llm.gemini.generator import GeminiGenerator
from themegen.llm.gemini.judge import GeminiJudge
from themegen.quality.rubric import JudgeRow, Verdict

TEXTS = [(r["id"], prepare_text(r["text"], 10**6)) for r in generate_rows(400, seed=5) if r["text"] and r["text"].strip()]
WORSE = QualityFaults(generic=0.1, unsupported=0.05, duplicated=0.05, wrong_language=0.05)


async def themes_of(url: str, model: str) -> dict[str, list[str]]:
    generator = GeminiGenerator(settings_for(url, model=model, rows_per_request=10))
    answers = {}
    for start in range(0, len(TEXTS), 10):
        answers |= await generator.answer_pack(TEXTS[start:start + 10], batch_id=0)
    assert not [a for a in answers.values() if a is None or isinstance(a, RowFailure)]  # all pass the validator
    return {row_id: answer.themes for row_id, answer in answers.items()}


async def test_faults_are_per_model_and_the_judge_finds_exactly_the_injected_themes():
    config = SimConfig(quality_faults={"gemini-worse": WORSE})
    async with running_simulator(config) as url:
        better, worse = await themes_of(url, "gemini-better"), await themes_of(url, "gemini-worse")
        texts = dict(TEXTS)
        assert all(better[i] == derive_themes(texts[i]) for i in texts)
        replaced = {(i, n) for i in texts for n, (a, b) in enumerate(zip(worse[i], derive_themes(texts[i]))) if a != b}
        share = len(replaced) / (6 * len(texts))
        assert 0.2 < share < 0.32  # 25% configured

        judge = GeminiJudge(settings_for(url), "gemini-judge")
        rows = [JudgeRow(i, texts[i], tuple(worse[i]), input_hash(texts[i])) for i in sorted(texts)]
        verdicts: dict[str, Verdict] = {}
        for start in range(0, len(rows), 10):
            verdicts |= await judge.judge(rows[start:start + 10])
        flagged = {(i, n) for i, v in verdicts.items() for n, flags in enumerate(v.themes) if not all(flags)}
        # A near repeat placed before what it repeats moves the original later: both positions changed,
        # the later one is the repeat. Every flagged theme was injected; every injected one is flagged
        # but for those moved originals.
        assert flagged <= replaced and len(replaced - flagged) <= len(replaced) * 0.05
        async with httpx.AsyncClient() as client:
            stats = (await client.get(f"{url}/_sim/stats")).json()
        assert stats["judge"]["requests"] == judge.usage.calls == len(rows) // 10 + (len(rows) % 10 > 0)
        assert stats["judge"]["rows_judged"] == len(rows)
        assert stats["requests"] == 2 * judge.usage.calls  # the themes' requests alone: 10 rows each, two models


@pytest.mark.parametrize("bad", [{"generic": 0.7, "unsupported": 0.4}, {"typo": 0.1}])
async def test_bad_fault_knobs_are_refused(bad):
    async with running_simulator() as url, httpx.AsyncClient() as client:
        response = await client.post(f"{url}/_sim/config", json={"quality_faults": {"*": bad}})
    assert response.status_code == 400


async def test_thinking_is_billed_a_pro_judge_at_least_128_tokens_a_request_a_flash_judge_none_by_default():
    texts = dict(TEXTS)
    rows = [JudgeRow(i, texts[i], tuple(derive_themes(texts[i])), input_hash(texts[i])) for i in sorted(texts)[:40]]
    async with running_simulator() as url:
        judges = {model: GeminiJudge(settings_for(url), model) for model in ("gemini-2.5-pro", "gemini-2.5-flash")}
        for judge in judges.values():
            for start in (0, 20):
                await judge.judge(rows[start:start + 20])
        pro, flash = judges["gemini-2.5-pro"].usage, judges["gemini-2.5-flash"].usage
        assert pro.output_tokens - flash.output_tokens == 2 * 128  # the same verdicts, and each request's thinking
        async with httpx.AsyncClient() as client:
            stats = (await client.get(f"{url}/_sim/stats")).json()
        assert stats["judge"]["output_tokens"] == pro.output_tokens + flash.output_tokens
        # Pro cannot think less than 128 tokens; a Flash judge may be given thinking
        assert GeminiJudge(settings_for(url, judge_thinking_budget=0), "gemini-2.5-pro").thinking_budget == 128
        assert GeminiJudge(settings_for(url, judge_thinking_budget=512), "gemini-2.5-flash").thinking_budget == 512
