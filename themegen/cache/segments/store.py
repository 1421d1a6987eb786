"""The three object operations the grouped cache needs, on the storage blocks that can list.

A Prefect storage block reads and writes paths but cannot list them, and the grouped layout finds
its segments by listing a folder. So each block type it supports gets a small store here; any other
block keeps the one-object-per-key layout (themegen/cache/block/). Calls are blocking: the cache
makes them from its flush thread or through asyncio.to_thread.

- GcsStore (prefect-gcp `GcsBucket`): one google-cloud-storage client for the cache's life, built
  from the block's own `GcpCredentials` (so whatever credentials the block holds apply). The
  block's read_path/write_path build a new client per call and fetch the bucket's metadata first:
  two requests and a token per object.
- FileStore (Prefect `LocalFileSystem`): files under the block's basepath, written to a temporary
  name and renamed, so a reader never sees half a segment.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Protocol


class Store(Protocol):
    description: str

    def list(self, folder: str, start_offset: str = "") -> list[str]:
        """Names under `folder` (ending in '/'), in name order, from `start_offset` on."""
        ...

    def read(self, name: str) -> bytes | None:
        """The object's bytes, or None when there is none."""
        ...

    def write(self, name: str, data: bytes, new: bool = False) -> None:
        """Write the object; `new`: it must not exist yet (a repeat of the same write is no error)."""
        ...


class GcsStore:
    def __init__(self, block) -> None:
        self.block = block
        self.folder = block.bucket_folder  # '' or 'folder/' (the block adds the slash)
        self.description = f"gs://{block.bucket}/{self.folder}"
        self._client = block.gcp_credentials.get_cloud_storage_client()
        self._bucket = self._client.bucket(block.bucket)  # no request: the bucket is not fetched

    def list(self, folder: str, start_offset: str = "") -> list[str]:
        skip = len(self.folder)
        start = self.folder + start_offset if start_offset else None
        blobs = self._client.list_blobs(self._bucket, prefix=self.folder + folder, start_offset=start,
                                        fields="items(name),nextPageToken")
        return [blob.name[skip:] for blob in blobs]

    def read(self, name: str) -> bytes | None:
        from google.api_core.exceptions import NotFound

        try:
            return self._bucket.blob(self.folder + name).download_as_bytes()
        except NotFound:
            return None

    def write(self, name: str, data: bytes, new: bool = False) -> None:
        from google.api_core.exceptions import PreconditionFailed

        blob = self._bucket.blob(self.folder + name)
        try:
            # if_generation_match=0 makes the upload idempotent, so the client retries it on a
            # transient error; a 412 then means an earlier attempt of this very write landed.
            blob.upload_from_string(data, content_type="application/x-ndjson" if new else "application/json",
                                    if_generation_match=0 if new else None)
        except PreconditionFailed:
            if not new:
                raise


class FileStore:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser().resolve()
        self.description = str(self.root)

    def list(self, folder: str, start_offset: str = "") -> list[str]:
        base = self.root / folder
        if not base.is_dir():
            return []
        names = (path.relative_to(self.root).as_posix() for path in base.rglob("*") if path.is_file())
        return sorted(name for name in names if name >= start_offset and not name.rpartition("/")[2].startswith("."))

    def read(self, name: str) -> bytes | None:
        try:
            return (self.root / name).read_bytes()
        except FileNotFoundError:
            return None

    def write(self, name: str, data: bytes, new: bool = False) -> None:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".")  # hidden: never listed
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


def store_for(block) -> Store | None:
    """The store of a storage block, or None when the grouped layout cannot list its kind."""
    from prefect.filesystems import LocalFileSystem

    if isinstance(block, LocalFileSystem):
        return FileStore(block.basepath or ".")
    try:
        from prefect_gcp import GcsBucket
    except ImportError:
        return None
    return GcsStore(block) if isinstance(block, GcsBucket) else None
