"""Are the themes any good? A seeded sample of a run's rows judged by a stronger model with a
rubric (grounded, specific, distinct, language per theme; cover per row), reported as rates with
95% intervals. The Judge port is here, its Gemini adapter in themegen/llm/gemini/judge.py."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from themegen.domain.models import LlmUsage
from themegen.pricing.cost import base_model
from themegen.quality.rubric import InvalidVerdict, JudgeRow, Verdict

if TYPE_CHECKING:
    from themegen.config.settings import Settings

# The judge defaults to a stronger model than the one generating (a model grading its own output is
# lenient with it); Pro judges itself, having none above it.
STRONGER = {"gemini-2.0-flash": "gemini-2.5-flash", "gemini-2.5-flash-lite": "gemini-2.5-flash"}
STRONGEST = "gemini-2.5-pro"


class Judge(Protocol):
    usage: LlmUsage

    async def judge(self, rows: list[JudgeRow]) -> dict[str, Verdict | InvalidVerdict]:
        """Each row's verdict, or why it has none; never raises for one bad answer or request."""
        ...


def judge_model_for(settings: Settings) -> str:
    return settings.judge_model or STRONGER.get(base_model(settings.model), STRONGEST)


def open_judge(settings: Settings) -> Judge:
    from themegen.llm.gemini.judge import GeminiJudge

    return GeminiJudge(settings, judge_model_for(settings))
