"""The Gemini API Files API as google-genai's `files.upload/get/list/delete/download` call it.

Uploads use Google's resumable protocol: `POST /upload/{version}/files` with
`X-Goog-Upload-Command: start` answers an `X-Goog-Upload-URL`; the client then POSTs the bytes there
in chunks (`upload`, the last one `upload, finalize`) and gets `{"file": File}` back. Files live in
memory until the simulator is reset. Batch jobs read their input from uploaded files and write their
output to generated ones, which are the only files `:download` serves (as the real API documents).
"""

import base64
import hashlib
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from . import replies
from .state import SIMULATOR, Simulator

_FILE = "{file:[^/:]+}"
_FILE_ID = re.compile(r"[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?")
_KEEP_FOR = timedelta(hours=48)  # the real API deletes files after 48 hours


def timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC with a Z, as Google's JSON APIs write timestamps."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


@dataclass
class StoredFile:
    file_id: str
    mime_type: str
    data: bytes
    display_name: str = ""
    generated: bool = False  # written by a batch job (downloadable), not uploaded
    created: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def name(self) -> str:
        return f"files/{self.file_id}"

    def resource(self, origin: str, version: str) -> dict[str, Any]:
        uri = f"{origin}/{version}/{self.name}"
        resource = {
            "name": self.name,
            "mimeType": self.mime_type,
            "sizeBytes": str(len(self.data)),
            "createTime": timestamp(self.created),
            "updateTime": timestamp(self.created),
            "expirationTime": timestamp(self.created + _KEEP_FOR),
            "sha256Hash": base64.b64encode(hashlib.sha256(self.data).digest()).decode(),
            "uri": uri,
            "state": "ACTIVE",
            "source": "GENERATED" if self.generated else "UPLOADED",
        }
        if self.display_name:
            resource["displayName"] = self.display_name
        if self.generated:
            resource["downloadUri"] = f"{uri}:download?alt=media"
        return resource


@dataclass
class Upload:
    """A resumable upload between its start and its finalize."""

    file: StoredFile
    size: int
    received: bytearray = field(default_factory=bytearray)


def new_file_id() -> str:
    # uuid rather than the simulator's RNG, whose sequence drives the injected faults.
    return uuid.uuid4().hex[:16]


def store_generated(sim: Simulator, file_id: str, data: bytes) -> StoredFile:
    stored = StoredFile(file_id, "application/jsonl", data, generated=True)
    sim.files[stored.file_id] = stored
    return stored


def _stored(sim: Simulator, request: web.Request) -> StoredFile | web.Response:
    """The file the request names, or the error reply (wrong key, no such file)."""
    if (rejected := replies.bad_api_key(sim, request)) is not None:
        return rejected
    stored = sim.files.get(request.match_info["file"])
    if stored is None:
        # What the real Files API answers for a file that does not exist (or is not yours).
        message = (
            f"You do not have permission to access the File {request.match_info['file']}"
            " or it may not exist."
        )
        return replies.error(sim, 403, "PERMISSION_DENIED", message)
    return stored


async def _upload(request: web.Request) -> web.Response:
    sim = request.app[SIMULATOR]
    upload_id = request.query.get("upload_id")
    if upload_id is None:
        rejected = replies.bad_api_key(sim, request)
        return rejected if rejected is not None else await _start_upload(sim, request)
    # The chunks carry no API key (google-genai sends only the X-Goog-Upload-* headers with them):
    # the upload id in the URL is what authorizes them.
    upload = sim.uploads.get(upload_id)
    if upload is None:
        return replies.not_found(sim, f"Upload {upload_id}")
    command = request.headers.get("X-Goog-Upload-Command", "")
    offset = request.headers.get("X-Goog-Upload-Offset", "")
    if offset != str(len(upload.received)):
        message = f"X-Goog-Upload-Offset {offset!r} is not the {len(upload.received)} bytes received so far."
        return replies.invalid_argument(sim, message)
    upload.received += await request.read()
    if "finalize" not in command:
        return web.Response(headers={"X-Goog-Upload-Status": "active"})
    del sim.uploads[upload_id]
    if len(upload.received) != upload.size:
        message = f"Upload of {len(upload.received)} bytes finalized, {upload.size} were announced."
        return replies.invalid_argument(sim, message)
    upload.file.data = bytes(upload.received)
    sim.files[upload.file.file_id] = upload.file
    sim.stats.files_uploaded += 1
    body = {
        "file": upload.file.resource(
            request.url.origin().human_repr(), request.match_info["version"]
        )
    }
    response = replies.json_response(200, body)
    response.headers["X-Goog-Upload-Status"] = "final"
    return response


async def _start_upload(sim: Simulator, request: web.Request) -> web.Response:
    if request.headers.get("X-Goog-Upload-Command") != "start":
        return replies.invalid_argument(
            sim, "Only resumable uploads are simulated (X-Goog-Upload-Command: start)."
        )
    body = await replies.read_json(request)
    meta = body.get("file", {}) if body is not None else None
    size = request.headers.get("X-Goog-Upload-Header-Content-Length", "")
    if not isinstance(meta, dict) or not size.isdigit():
        return replies.invalid_argument(
            sim, "Upload start needs a {file: {...}} body and X-Goog-Upload-Header-Content-Length."
        )
    if int(size) > sim.config.batch_max_file_bytes:  # the Files API refuses it before any byte is sent
        sim.stats.batch.refused_400 += 1
        return replies.invalid_argument(
            sim, f"The file is {size} bytes; the limit is {sim.config.batch_max_file_bytes} bytes."
        )
    file_id = str(meta.get("name") or new_file_id()).removeprefix("files/")
    if not _FILE_ID.fullmatch(file_id):
        return replies.invalid_argument(
            sim, f"File name {file_id!r}: up to 40 lowercase letters, digits or dashes."
        )
    if file_id in sim.files:
        return replies.error(sim, 409, "ALREADY_EXISTS", f"File files/{file_id} already exists.")
    mime_type = (
        request.headers.get("X-Goog-Upload-Header-Content-Type") or meta.get("mimeType") or ""
    )
    stored = StoredFile(file_id, mime_type, b"", str(meta.get("displayName") or ""))
    upload_id = uuid.uuid4().hex
    sim.uploads[upload_id] = Upload(stored, int(size))
    url = request.url.with_query(upload_id=upload_id, upload_protocol="resumable")
    headers = {"X-Goog-Upload-URL": str(url), "X-Goog-Upload-Status": "active"}
    return web.Response(headers=headers)


async def _get(request: web.Request) -> web.Response:
    sim = request.app[SIMULATOR]
    stored = _stored(sim, request)
    if isinstance(stored, web.Response):
        return stored
    origin = request.url.origin().human_repr()
    return replies.json_response(200, stored.resource(origin, request.match_info["version"]))


async def _list(request: web.Request) -> web.Response:
    sim = request.app[SIMULATOR]
    if (rejected := replies.bad_api_key(sim, request)) is not None:
        return rejected
    origin, version = request.url.origin().human_repr(), request.match_info["version"]
    # One page: the simulator holds a test's few files, not a project's thousands.
    return replies.json_response(
        200, {"files": [f.resource(origin, version) for f in sim.files.values()]}
    )


async def _delete(request: web.Request) -> web.Response:
    sim = request.app[SIMULATOR]
    stored = _stored(sim, request)
    if isinstance(stored, web.Response):
        return stored
    del sim.files[stored.file_id]
    return replies.json_response(200, {})


async def _download(request: web.Request) -> web.Response:
    sim = request.app[SIMULATOR]
    stored = _stored(sim, request)
    if isinstance(stored, web.Response):
        return stored
    if not stored.generated:
        return replies.invalid_argument(
            sim, f"{stored.name} was uploaded; only generated files can be downloaded."
        )
    return web.Response(body=stored.data, content_type=stored.mime_type)


def add_routes(app: web.Application) -> None:
    version, router = replies.VERSION_PATH, app.router
    router.add_post(f"/upload/{version}/files", _upload)
    router.add_get(f"/{version}/files", _list)
    router.add_get(f"/{version}/files/{_FILE}", _get)
    router.add_delete(f"/{version}/files/{_FILE}", _delete)
    router.add_get(f"/{version}/files/{_FILE}:download", _download)
