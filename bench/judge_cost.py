"""What the quality judge costs beside the run it judges, at list prices, from the Gemini simulator's
token approximations (no stack, no network): the themes' requests for every distinct text of the
sample rows at --rows-per-request, and the judge's requests for a seeded --sample of the rows (each
distinct text and themes once) at --judge-rows-per-request, each
charged its whole thinking budget (THEMEGEN_JUDGE_THINKING_BUDGET, by default the least the judge
model takes: 0 on Flash, 128 on Pro), as the simulator does.

    python -m bench.judge_cost [--rows 30000] [--sample 400] [--judge-rows-per-request 20]
"""

from __future__ import annotations

import argparse
import json

from local_stack.gemini_sim.answers import answer_text
from local_stack.gemini_sim.judge import judge_text
from local_stack.gemini_sim.config import QualityFaults
from local_stack.gemini_sim.quality import with_faults
from local_stack.gemini_sim.tokens import approx_tokens
from local_stack.sample_data import generate_rows
from themegen.config.settings import Settings
from themegen.domain.prompt import input_hash, prepare_text, prompt_of, user_content
from themegen.llm.gemini.judge import judge_thinking_budget
from themegen.pricing.cost import cost_usd
from themegen.quality.rubric import RUBRIC, JudgeRow, judge_content
from themegen.quality.sample import sample

PAIRS = [("gemini-2.5-flash", "gemini-2.5-pro"), ("gemini-2.5-flash-lite", "gemini-2.5-flash"),
         ("gemini-2.5-flash", "gemini-2.5-flash")]


def tokens(rows: list[tuple[str, str]], per_request: int, sample_rows: int, judge_per_request: int,
           faults: QualityFaults | None = None) -> dict[str, int]:
    """As a run spends them: each distinct text sent once (a repeated text is answered from the first),
    and a seeded sample of the rows judged, each distinct text and themes once."""
    instruction = prompt_of(Settings.model_construct()).system_instruction(packed=per_request > 1)
    counts = dict.fromkeys(("generate_in", "generate_out", "judge_in", "judge_out", "judge_requests"), 0)
    distinct = list({text: (row_id, text) for row_id, text in reversed(rows)}.values())[::-1]
    counts["texts_sent"] = len(distinct)
    for start in range(0, len(distinct), per_request):
        pack = distinct[start:start + per_request]
        counts["generate_in"] += approx_tokens(f"{instruction}\n{user_content(pack)}")
        counts["generate_out"] += approx_tokens(answer_text(pack, per_request > 1, {}, False))
    picked = sample(rows, sample_rows, 0, lambda row: row[0])
    judged = list({t: JudgeRow(i, t, tuple(with_faults(t, "bench", faults)), input_hash(t)) for i, t in picked}.values())
    counts["rows_judged"] = len(judged)
    for start in range(0, len(judged), judge_per_request):
        content = judge_content(judged[start:start + judge_per_request])
        counts["judge_in"] += approx_tokens(f"{RUBRIC}\n{content}")
        counts["judge_out"] += approx_tokens(judge_text(content)[0])
        counts["judge_requests"] += 1
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=30_000)
    parser.add_argument("--sample", type=int, default=400)
    parser.add_argument("--rows-per-request", type=int, default=10)
    parser.add_argument("--judge-rows-per-request", type=int, default=Settings.model_fields["judge_rows_per_request"].default)
    parser.add_argument("--thinking-budget", type=int, default=None, help="THEMEGEN_JUDGE_THINKING_BUDGET")
    parser.add_argument("--generic", type=float, default=0.0, help="share of judged themes made generic (a failure the "
                        "judge lists, so its answer grows)")
    args = parser.parse_args()
    rows = [(r["id"], prepare_text(r["text"], 10**6)) for r in generate_rows(args.rows) if r["text"] and r["text"].strip()]
    faults = QualityFaults(generic=args.generic) if args.generic else None
    counts = tokens(rows, args.rows_per_request, args.sample, args.judge_rows_per_request, faults)
    settings = Settings.model_construct(judge_thinking_budget=args.thinking_budget)
    shares = []
    for model, judge in PAIRS:
        run = cost_usd(model, counts["generate_in"], counts["generate_out"])
        thinking = counts["judge_requests"] * judge_thinking_budget(settings, judge)
        judged = cost_usd(judge, counts["judge_in"], counts["judge_out"] + thinking)
        shares.append({"model": model, "judge": judge, "judge_thinking": thinking, "run_usd": round(run, 4),
                       "judge_usd": round(judged, 4),
                       "judge_share": round(judged / (run + judged), 4)})
    print(json.dumps({"source": "Gemini simulator token approximations, list prices", "rows_with_text": len(rows),
                      **vars(args), **counts, "shares": shares}, indent=1))


if __name__ == "__main__":
    main()
