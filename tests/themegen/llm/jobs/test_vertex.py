"""Vertex AI's batch jobs (pure parts): where a job's requests go, and its output rows read back as
the lines results.py matches by key (end to end in tests/flows/test_batch_tier_vertex.py)."""

import json

from tests.themegen.llm.jobs.test_results import ROWS, THEMES, items, read, requests_of, response
from themegen.llm.gemini.generator import Answer
from themegen.llm.jobs.gemini_api import GeminiApiJobs
from themegen.llm.jobs.service import job_service
from themegen.llm.jobs.vertex import VertexJobs, input_table, output_line
from themegen.config.settings import Settings

VERTEX = Settings(gemini_backend="vertex", gcp_project="my-project", bq_dataset="src", bq_staging_dataset="stage")


def test_the_requests_table_is_named_from_the_record_key_in_the_staging_dataset():
    assert input_table(VERTEX, "batch-jobs/ab/" + "ab" * 32 + ".json") == "my-project.stage.themegen_batch_" + "ab" * 16


def test_the_backend_picks_the_job_service():
    assert isinstance(job_service(VERTEX), VertexJobs)
    assert isinstance(job_service(Settings(gemini_backend="api_key", gemini_api_key="k")), GeminiApiJobs)


def test_output_rows_become_keyed_lines_an_answer_or_the_rows_status():
    body = response('{"themes": ["a", "b", "c", "d", "e", "f"]}')
    assert json.loads(output_line("k1", "", json.dumps(body))) == {"key": "k1", "response": body}
    assert json.loads(output_line("k1", None, body)) == {"key": "k1", "response": body}
    failed = json.loads(output_line("k2", "Internal error encountered.", None))
    assert failed == {"key": "k2", "error": {"message": "Internal error encountered."}}
    assert json.loads(output_line("k3", "", None))["error"]["message"] == "no response"


def test_read_back_rows_validate_as_online_answers_and_a_failed_row_is_left_for_the_online_path():
    answered, failed = requests_of(ROWS[:4], 2)
    lines = [json.loads(output_line(failed.key, "Internal error encountered.", None)),
             json.loads(output_line(answered.key, "", json.dumps(response(items("r0", "r1")))))]

    answers, output = read([answered, failed], lines)

    assert answers["r0"].themes == answers["r1"].themes == THEMES and isinstance(answers["r0"], Answer)
    assert answers["r2"] is answers["r3"] is None and output.errors == 1
