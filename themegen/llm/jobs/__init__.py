"""The batch tier's job: the run's unsettled rows asked in one asynchronous job (or a few, within
the service's per-job limits), whose valid answers fill the row cache before the batch tasks run.

requests.py builds the job's requests (pure), results.py reads its output (pure), record.py keeps
which job a set of requests went to, service.py picks the backend's batch API (gemini_api.py: the
Gemini API's file jobs; vertex.py: Vertex AI's BigQuery jobs; both through google-genai).
"""
