"""The report's quality section: rates with 95% intervals, the worst rows, the judge's cost (pure)."""

from __future__ import annotations

from themegen.quality.models import QualityReport

MEANING = {
    "grounded": "themes the text supports",
    "specific": "themes that say something about this text",
    "distinct": "themes that do not repeat another of the row",
    "language": "themes in the text's language",
    "cover": "rows whose themes cover the text's main points",
}


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def judge_cost_line(quality: QualityReport, run_cost_usd: float | None) -> str:
    if quality.cost_usd is None:
        return f"Judge cost: unknown (no price for {quality.judge_model}); {quality.judge_calls} calls"
    total = (run_cost_usd or 0.0) + quality.cost_usd
    share = f", {_pct(quality.cost_usd / total)} of the run's Gemini cost" if total > 0 else ""
    return (f"Judge cost: ${quality.cost_usd:.4f} ({quality.judge_calls} calls, {quality.input_tokens:,} input + "
            f"{quality.output_tokens:,} output tokens{share})")


def quality_markdown(quality: QualityReport, run_cost_usd: float | None, environment: str) -> str:
    if not quality.enabled:
        return f"## Quality\n\nNot judged ({quality.why_not})."
    simulated = "simulated" in environment
    source = ("**these figures come from the Gemini simulator's judge**, which checks the simulator's own "
              "injected faults, not a model's judgement" if simulated else f"judged by {quality.judge_model}")
    lines = ["## Quality", "",
             f"Environment: **{environment}**: {source}. Sample: {quality.rows_judged:,} of {quality.sample_size:,} rows "
             f"asked (seed {quality.seed}{', stratified by ' + quality.stratify if quality.stratify else ''}), "
             f"{quality.rows_from_cache:,} judgements reused from earlier runs; rubric {quality.rubric_version}.", ""]
    if quality.error:
        lines += [f"Judging failed: {quality.error} (the themes are written; rerun to judge).", ""]
    if quality.rates:
        lines += ["| check | rate | 95% interval | passed / judged | meaning |", "|---|---|---|---|---|"]
        lines += [f"| {r.check} | {_pct(r.rate)} | {_pct(r.low)} – {_pct(r.high)} | {r.passed:,} / {r.judged:,} | "
                  f"{MEANING[r.check]} |" for r in quality.rates]
        lines.append("")
    if quality.strata:
        lines += ["Rows per stratum: " + ", ".join(f"{k} {v:,}" for k, v in sorted(quality.strata.items())), ""]
    if quality.rows_not_judged:
        errors = "; ".join(f"{kind} ({n})" for kind, n in sorted(quality.errors.items(), key=lambda e: -e[1]))
        lines += [f"Not judged: {quality.rows_not_judged:,} rows: {errors}", ""]
    if quality.sink_error:
        lines += [f"Judgements not stored: {quality.sink_error}", ""]
    lines += [judge_cost_line(quality, run_cost_usd), ""]
    if quality.worst:
        lines += ["### Worst rows", ""]
        for row in quality.worst:
            lines += [f"- `{row.id}`: {row.text[:160]!r}", f"  - themes: {', '.join(row.themes)}",
                      *(f"  - {problem}" for problem in row.problems)]
    return "\n".join(lines).rstrip() + "\n"
