"""The batch job routes both platforms share (get, cancel, delete, list): the Gemini API's
`batches/*` (batches.py) and Vertex AI's `batchPredictionJobs/*` (vertex_batches.py). Jobs live in
one store (Simulator.jobs); each platform sees only its own, in its own JSON form."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web

from . import replies
from .state import SIMULATOR, Simulator

if TYPE_CHECKING:
    from .batches import BatchJob


@dataclass(frozen=True)
class Platform:
    vertex: bool  # which jobs it sees (BatchJob.vertex set or not)
    collection: str  # the jobs' resource name, for not-found messages
    list_field: str  # where a list page holds its jobs
    render: Callable[[BatchJob], dict[str, Any]]  # a job as this platform's API returns it
    deleted: Callable[[BatchJob], dict[str, Any]]  # the answer to a delete


def add_job_routes(app: web.Application, jobs_path: str, platform: Platform) -> None:
    """GET jobs_path (a page), GET/DELETE jobs_path/{job}, POST jobs_path/{job}:cancel."""

    def lookup(sim: Simulator, request: web.Request) -> BatchJob | web.Response:
        if (rejected := replies.bad_api_key(sim, request)) is not None:
            return rejected
        job = sim.jobs.get(request.match_info["job"])
        if job is None or (job.vertex is not None) != platform.vertex:
            return replies.not_found(sim, f"{platform.collection}/{request.match_info['job']}")
        return job

    async def get(request: web.Request) -> web.Response:
        job = lookup(request.app[SIMULATOR], request)
        return job if isinstance(job, web.Response) else replies.json_response(200, platform.render(job))

    async def cancel(request: web.Request) -> web.Response:
        sim = request.app[SIMULATOR]
        job = lookup(sim, request)
        if isinstance(job, web.Response):
            return job
        sim.stats.batch.jobs_cancelled += job.cancel()
        return replies.json_response(200, {})

    async def delete(request: web.Request) -> web.Response:
        sim = request.app[SIMULATOR]
        job = lookup(sim, request)
        if isinstance(job, web.Response):
            return job
        job.stop()
        del sim.jobs[job.job_id]
        return replies.json_response(200, platform.deleted(job))

    async def page(request: web.Request) -> web.Response:
        sim = request.app[SIMULATOR]
        if (rejected := replies.bad_api_key(sim, request)) is not None:
            return rejected
        size, start = request.query.get("pageSize", "50"), request.query.get("pageToken", "0")
        if not (size.isdigit() and start.isdigit() and int(size) > 0):
            return replies.invalid_argument(sim, "pageSize and pageToken must be whole numbers.")
        size, start = int(size), int(start)
        jobs = [job for job in sim.jobs.values() if (job.vertex is not None) == platform.vertex]
        body: dict[str, Any] = {platform.list_field: [platform.render(job) for job in jobs[start : start + size]]}
        if start + size < len(jobs):
            body["nextPageToken"] = str(start + size)
        return replies.json_response(200, body)

    job_path = f"{jobs_path}/{{job:[^/:]+}}"
    app.router.add_get(jobs_path, page)
    app.router.add_get(job_path, get)
    app.router.add_delete(job_path, delete)
    app.router.add_post(f"{job_path}:cancel", cancel)
