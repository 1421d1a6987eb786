"""The Gemini SIMULATOR as a stack part (local_stack/gemini_sim is the server itself): start it, see
that it answers, and give it the stack's quota and latency."""

from __future__ import annotations

import sys
from pathlib import Path

from local_stack.processes import HOST, http_get, http_post_json, start_process

NAME = "gemini"
LABEL = "Gemini: SIMULATOR (not the real model)"
SIM_API_KEY = "simulated-local-key"  # the simulator rejects any other key, like the real API


def start_gemini(state_dir: Path, port: int) -> int:
    argv = [sys.executable, "-m", "local_stack.gemini_sim", "--host", HOST, "--port", str(port)]
    return start_process(NAME, argv, state_dir)


def gemini_ready(port: int) -> bool:
    answer = http_get(f"http://{HOST}:{port}/_sim/health")
    return answer is not None and answer[0] == 200


def configure(port: int, rpm: int, latency_s: float, jitter_s: float, bigquery_rest_port: int) -> str:
    """Apply quota and latency at runtime, so a reused simulator gets them too; what was set."""
    knobs = {"rpm": rpm, "latency_s": latency_s, "api_key": SIM_API_KEY, "latency_jitter_s": jitter_s,
             # Vertex AI batch jobs read their request table from the BigQuery emulator, and write there.
             "bigquery_endpoint": f"http://{HOST}:{bigquery_rest_port}"}
    http_post_json(f"http://{HOST}:{port}/_sim/config", knobs)
    return f"quota {rpm} RPM, latency {latency_s} s ± {jitter_s} s"
