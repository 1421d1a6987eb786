"""What a comparison says (pure): which configuration to use and why in one sentence, and the
comparison as terminal lines (`themegen compare`) or markdown (the compare flow's artifact)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from themegen.quality.comparing import Comparison, Side
    from themegen.quality.models import Rate


def _name(c: Comparison, key: str) -> str:
    side = c.a if key == "a" else c.b
    return f"{key.upper()} ({side.model}, {side.prompt})"


def _largest_gap(a: Side, b: Side) -> str:
    """The rubric check on which the two sides differ most, as a reason."""
    pairs = [(ra.check, ra.rate, rb.rate) for ra, rb in zip(a.rates, b.rates) if ra.judged and rb.judged]
    if not pairs:
        return ""
    check, x, y = max(pairs, key=lambda p: abs(p[1] - p[2]))
    return f"; {check} {x:.1%} for A, {y:.1%} for B" if f"{x:.1%}" != f"{y:.1%}" else "; the same rubric rates"


def _usd(value: float | None) -> str:
    return "no published price" if value is None else f"${value:,.4f}"


def advice(c: Comparison) -> str:
    a, b, d = c.a, c.b, c.decision
    cost = f"{_usd(a.cost_per_1000_rows)} vs {_usd(b.cost_per_1000_rows)} per 1,000 rows"
    if d is None:
        return "Nothing compared: no row got themes from both configurations."
    gap = _largest_gap(a, b)
    if d.winner:
        wins = d.a_wins if d.winner == "a" else d.b_wins
        return (f"Use {_name(c, d.winner)}: preferred in both orders on {wins} of {d.a_wins + d.b_wins} rows where "
                f"the judge chose (A's share {d.share_a:.2f}, interval {d.low:.2f}-{d.high:.2f}){gap}; {cost}.")
    tally = f"No clear difference after {c.rows_compared} rows ({d.a_wins} for A, {d.b_wins} for B, {d.ties} ties{gap})"
    if a.cost_per_1000_rows is None or b.cost_per_1000_rows is None:
        return f"{tally}: use either, or the one whose price you know; {cost}."
    cheaper = "a" if a.cost_per_1000_rows <= b.cost_per_1000_rows else "b"
    return f"{tally}: use the cheaper, {_name(c, cheaper)}; {cost}."


def _rate(rate: Rate) -> str:
    return f"{rate.check} {rate.rate:.3f} [{rate.low:.3f}, {rate.high:.3f}]"


def _simulated(c: Comparison) -> str:
    return (" (answers and judgements come from the Gemini simulator)" if "simulated" in c.environment else "")


def comparison_lines(c: Comparison) -> list[str]:
    lines = [f"Environment: {c.environment}{_simulated(c)}"]
    for name, side in (("A", c.a), ("B", c.b)):
        lines.append(f"{name}: {side.model}, prompt {side.prompt} ({side.fingerprint}): {_usd(side.cost_per_1000_rows)} and "
                     f"{side.tokens_per_1000_rows:,} tokens per 1,000 rows, {side.minutes_per_1000_rows} min per 1,000 "
                     f"rows at the quota; {side.calls} requests sent, {side.rows_failed} rows failed")
        lines.append(f"   rubric: {', '.join(_rate(r) for r in side.rates) or 'not rated'}")
    lines.append(f"Judge {c.judge_model}: {c.rows_compared} rows in {c.looks} looks"
                 f"{' (stopped early)' if c.stopped_early else ''}, {c.judge_calls} requests, "
                 f"{_usd(c.judge_cost_usd)}; errors: {c.judge_errors or 'none'}")
    lines.append(c.advice)
    return lines


def comparison_markdown(c: Comparison) -> str:
    checks = [r.check for r in c.a.rates or c.b.rates]
    head = "| | A | B |\n|---|---|---|\n"
    rows = [("model", c.a.model, c.b.model), ("prompt", f"{c.a.prompt} ({c.a.fingerprint})",
                                              f"{c.b.prompt} ({c.b.fingerprint})"),
            ("USD per 1,000 rows", _usd(c.a.cost_per_1000_rows), _usd(c.b.cost_per_1000_rows)),
            ("tokens per 1,000 rows", f"{c.a.tokens_per_1000_rows:,}", f"{c.b.tokens_per_1000_rows:,}"),
            ("minutes per 1,000 rows at the quota", c.a.minutes_per_1000_rows, c.b.minutes_per_1000_rows),
            ("requests sent / rows failed", f"{c.a.calls} / {c.a.rows_failed}", f"{c.b.calls} / {c.b.rows_failed}")]
    for check in checks:
        ra = next((r for r in c.a.rates if r.check == check), None)
        rb = next((r for r in c.b.rates if r.check == check), None)
        rows.append((f"{check} (95% interval)", *(f"{r.rate:.3f} [{r.low:.3f}, {r.high:.3f}]" if r else "-"
                                                  for r in (ra, rb))))
    d = c.decision
    preference = (f"A {d.a_wins}, B {d.b_wins}, ties {d.ties}; A's share {d.share_a if d.share_a is None else round(d.share_a, 3)}"
                  f" [{d.low:.3f}, {d.high:.3f}]" if d else "none")
    return "\n".join([
        "# Comparison", "", f"**{c.advice}**", "", f"Environment: {c.environment}{_simulated(c)}", "",
        head + "\n".join(f"| {label} | {x} | {y} |" for label, x, y in rows), "",
        f"Pairwise judge {c.judge_model}, both orders: {preference}; {c.rows_compared} rows in {c.looks} looks"
        f"{' (stopped early)' if c.stopped_early else ''}. Judge: {c.judge_calls} requests, {_usd(c.judge_cost_usd)}; "
        f"errors: {c.judge_errors or 'none'}. {c.wall_seconds} s.",
    ])
