"""bench/profile_breakdown.py: a py-spy sample belongs to the deepest frame a component names."""

from __future__ import annotations

from bench.flow_gc import parse_spec
from bench.profile_breakdown import IMPORTS, OTHER, breakdown, classify, parse_line, table

SITE = "/x/.venv/lib/python3.11/site-packages"
LOOP = "_run_once (/usr/lib/python3.11/asyncio/base_events.py:1900)"
SETTLE = "settle_batch (/repo/themegen/pipeline/settle.py:10)"
SEND = "_send (/repo/themegen/llm/gemini/generator.py:150)"
GENAI = f"generate_content ({SITE}/google/genai/models.py:8300)"
PYDANTIC = f"__init__ ({SITE}/pydantic/main.py:250)"


def test_the_deepest_named_frame_wins():
    assert classify([LOOP, SETTLE, SEND, GENAI, PYDANTIC])[0].startswith("google-genai")
    assert classify([LOOP, SETTLE, SEND])[0].startswith("generator")
    assert classify([LOOP, SETTLE, "put (/repo/themegen/cache/sqlite/client.py:80)"])[0].startswith("row cache")
    spanner = [LOOP, f"commit ({SITE}/google/cloud/spanner_v1/batch.py:1)", f"_blocking ({SITE}/grpc/_channel.py:1)"]
    assert classify(spanner)[0].startswith("Spanner client")


def test_installed_packages_named_tasks_are_not_ours_and_the_loop_is_a_fallback():
    assert classify([LOOP, f"run ({SITE}/something/tasks/x.py:1)"])[0].startswith("event loop")
    assert classify([LOOP, "generate_batch (/repo/tasks/generate_batch.py:40)"])[0] == "tasks & flows (ours)"
    assert classify([f"api ({SITE}/prefect/client/orchestration/__init__.py:1)"])[0].startswith("Prefect API")
    assert classify([f"run ({SITE}/prefect/task_engine.py:1)"])[0] == "Prefect task/flow engine"
    assert classify(["<module> (/x/unknown.py:1)"])[0] == OTHER


def test_anything_under_an_import_is_imports():
    assert classify([SEND, "_find_and_load (<frozen importlib._bootstrap>:1)", GENAI])[0] == IMPORTS


def test_lines_are_counted_per_component():
    lines = [f"{LOOP};{SEND};{GENAI} 30", f"{LOOP};{SEND} 10", "garbage", f"{LOOP} 10"]
    assert parse_line(lines[1]) == ([LOOP, SEND], 10) and parse_line("garbage") is None
    total, by_component, by_function = breakdown(lines)
    assert total == 50 and by_component.most_common(1)[0] == ("google-genai (request conversion, response parsing)", 30)
    rendered = table("flow", total, by_component, 2.0, by_function, top=1)
    assert "| google-genai (request conversion, response parsing) | 60.0% | 1.200 |" in rendered
    assert "generate_content (google/genai/models.py)" in rendered


def test_gc_specs():
    assert parse_spec("10000,10,10+freeze") == ((10000, 10, 10), True)
    assert parse_spec("freeze") == (None, True) and parse_spec("5000") == ((5000,), False)
