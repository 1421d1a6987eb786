"""What a judged run reports: rates with intervals, the worst rows, the judge's cost and errors."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Rate(BaseModel):
    check: str = Field(description="grounded, specific, distinct, language (per theme) or cover (per row)")
    passed: int
    judged: int
    low: float = Field(description="95% Wilson interval of passed/judged")
    high: float

    @property
    def rate(self) -> float:
        return self.passed / self.judged if self.judged else 0.0


class WorstRow(BaseModel):
    id: str
    text: str = Field(description="the row's text, cut to a few hundred characters")
    themes: list[str]
    problems: list[str] = Field(description="e.g. 'theme 3 \"feedback\": not specific'")


class QualityReport(BaseModel):
    enabled: bool = True
    why_not: str = Field("THEMEGEN_QUALITY_SAMPLE_ROWS=0", description="why a run was not judged (enabled=False)")
    judge_model: str = ""
    rubric_version: str = ""
    seed: int = 0
    stratify: str | None = None
    strata: dict[str, int] = Field(default_factory=dict, description="judged rows per stratum")
    sample_size: int = Field(0, description="rows asked for (THEMEGEN_QUALITY_SAMPLE_ROWS)")
    rows_judged: int = 0
    rows_from_cache: int = Field(0, description="judgements of these themes made by an earlier run (not paid again)")
    rows_not_judged: int = Field(0, description="sampled rows the judge gave no usable verdict for")
    errors: dict[str, int] = Field(default_factory=dict, description="why rows were not judged, by kind")
    rates: list[Rate] = Field(default_factory=list)
    worst: list[WorstRow] = Field(default_factory=list)
    judge_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = None
    sink_error: str | None = Field(None, description="the judgements could not be stored: why")
    error: str | None = Field(None, description="the judging step failed as a whole (the themes stay): why")
