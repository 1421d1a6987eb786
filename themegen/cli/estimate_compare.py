"""`themegen estimate --compare-model X` / `--compare-prompt-file F`: the planned rows priced and
timed for the configured run and for the other configuration side by side, with what the last
`themegen compare` of the two found. The estimate stays free and quick: it shows a comparison made
earlier instead of paying a judge for a new one, and says how to make one when there is none. The
price difference is for the rows planned here; a comparison's own figures are per 1,000 rows."""

from __future__ import annotations

from themegen.config.settings import Settings
from themegen.domain.prompt import prompt_of
from themegen.pricing.estimate import Estimate, estimate
from themegen.quality.compare_record import configuration, load_comparison
from themegen.quality.comparing import side_settings


def other_configuration(settings: Settings, model: str | None, prompt_file: str | None) -> Settings | None:
    """The configured settings with the other model and/or prompt file; its prompt is read now, so a
    missing or empty file is one error before anything is counted."""
    if model is None and prompt_file is None:
        return None
    other = side_settings(settings, model=model, prompt_file=prompt_file)
    prompt_of(other)
    return other


def _usd(value: float | None) -> str:
    return "n/a (no published price)" if value is None else f"${value:,.4f}"


async def compare_lines(settings: Settings, configured: Estimate, other: Settings, sample: int,
                        rows_limit: int | None, tpm: int | None) -> list[str]:
    theirs = await estimate(other, sample, rows_limit=rows_limit, tpm=tpm)
    lines = [f"Side by side, for the {configured.rows:,} rows planned:"]
    for label, s, e in (("configured", settings, configured), ("compared", other, theirs)):
        lines.append(f"  {label:<11} {e.model}, prompt {prompt_of(s).origin}: {_usd(e.usd)}, "
                     f"{e.expected_minutes:,.1f} min on {e.tier} ({e.texts_to_send:,} texts to send, "
                     f"{e.calls:,} requests)")
    record = await load_comparison(settings, other)
    if record is None:
        lines.append("  no comparison of these two recorded: `themegen compare --a ... --b ...` judges both on the "
                     "same rows (up to 1,000) and says which themes are better")
    else:
        a_is = "configured" if record.a == configuration(settings) else "compared"
        lines.append(f"  last comparison ({record.made_at:%Y-%m-%d %H:%M} UTC, {record.rows_compared:,} rows; A was "
                     f"the {a_is} one): {record.advice}")
    return lines
