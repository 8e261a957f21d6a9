"""The S3-compatible store (AWS S3, MinIO, Ceph RGW, moto...): boto3 against S3_ENDPOINT_URL.

Keys: ``<S3_PREFIX>uploads/<uuid4 hex><ext>`` for uploads (server-chosen, as on disk) and
``<S3_PREFIX>outputs/<task id>/<file>`` for outputs. Refs are ``s3://<S3_BUCKET>/<key>`` or a key
relative to the prefix. Only S3_BUCKET under S3_PREFIX is accepted, and keys with ``..`` or empty
segments are refused (the S3 counterpart of DATA_DIR confinement). Old objects: give the bucket a
lifecycle rule (expire ``uploads/`` and ``outputs/`` after FILE_RETENTION_S); cleanup_temp_files
only cleans local disks.
"""
from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import BinaryIO

import boto3
import botocore.exceptions
from botocore.config import Config

from app.errors import InvalidInput, ServiceUnavailable
from app.files.storage import StoredFile, display_name, upload_name

_MISSING = frozenset({"404", "NoSuchKey", "NotFound"})


class S3Store:
    """Files in `bucket` under `prefix` (e.g. "console/"), through one boto3 client (thread-safe)."""

    kind = "s3"

    def __init__(self, bucket: str, prefix: str = "", endpoint_url: str | None = None, region: str = "us-east-1",
                 access_key_id: str | None = None, secret_access_key: str | None = None,
                 timeout_s: float = 30.0):
        if not bucket:
            raise InvalidInput("FILE_STORE=s3 needs S3_BUCKET.")
        self.bucket = bucket
        self.prefix = (prefix.strip("/") + "/") if prefix.strip("/") else ""
        self.client = boto3.client("s3", endpoint_url=endpoint_url or None, region_name=region,
                                   aws_access_key_id=access_key_id or None,
                                   aws_secret_access_key=secret_access_key or None,
                                   config=Config(connect_timeout=timeout_s, read_timeout=timeout_s,
                                                 retries={"max_attempts": 3, "mode": "standard"},
                                                 s3={"addressing_style": "path"}))

    @classmethod
    def from_settings(cls, s) -> "S3Store":
        secret = s.S3_SECRET_ACCESS_KEY.get_secret_value() if s.S3_SECRET_ACCESS_KEY else None
        return cls(s.S3_BUCKET or "", s.S3_PREFIX, s.S3_ENDPOINT_URL, s.S3_REGION, s.S3_ACCESS_KEY_ID, secret)

    # -- refs ------------------------------------------------------------------------------------
    def key_of(self, ref: str) -> str:
        """The full object key of `ref` (``s3://bucket/key`` or a key relative to the prefix).

        Raises:
            InvalidInput: another bucket, outside the prefix, ``..`` or empty segments, or a local path.
        """
        ref = str(ref)
        if ref.startswith("s3://"):
            bucket, _, key = ref[5:].partition("/")
            if bucket != self.bucket:
                raise InvalidInput(f"Storage URL outside the configured bucket: {display_name(bucket)}")
        elif ref.startswith("/"):
            raise InvalidInput("A local path cannot be read from the S3 store; pass the s3:// URL or key.")
        else:
            key = self.prefix + ref
        parts = key.split("/")
        if not key.startswith(self.prefix) or any(p in ("", ".", "..") for p in parts) or "\x00" in key:
            raise InvalidInput(f"Storage key outside the store: {display_name(key)}")
        return key

    def url(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def owns(self, ref: str) -> bool:
        try:
            self.key_of(ref)
            return True
        except InvalidInput:
            return False

    def name_of(self, ref: str) -> str:
        return PurePosixPath(self.key_of(ref)).name

    # -- operations ------------------------------------------------------------------------------
    def _call(self, what: str, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except botocore.exceptions.ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in _MISSING:
                raise InvalidInput(f"The stored file is missing: {what}. Upload it again.") from exc
            raise ServiceUnavailable(f"S3 refused {what}: {code or exc}") from exc
        except (botocore.exceptions.BotoCoreError, OSError) as exc:
            raise ServiceUnavailable(f"S3 storage is unreachable: {exc}") from exc

    def save_upload(self, original_name: str, content: bytes, max_bytes: int) -> StoredFile:
        """Store an upload as ``uploads/<uuid4 hex><ext>``; returns StoredFile(path=<s3 URL str>).

        Raises:
            FileTooLarge / InvalidInput: as `app.files.storage.upload_name`.
        """
        key = f"{self.prefix}uploads/{upload_name(original_name, content, max_bytes)}"
        self._call(key, self.client.put_object, Bucket=self.bucket, Key=key, Body=content)
        return StoredFile(path=self.url(key), original_name=display_name(original_name), size_bytes=len(content))

    def fetch(self, ref: str, target: Path) -> None:
        """Download `ref` to the local file `target` (streamed by boto3's transfer manager)."""
        key = self.key_of(ref)
        self._call(PurePosixPath(key).name, self.client.head_object, Bucket=self.bucket, Key=key)
        self._call(PurePosixPath(key).name, self.client.download_file, self.bucket, key, str(target))

    def put_file(self, local_path: Path, key: str) -> str:
        """Upload `local_path` as ``<prefix><key>``; returns its s3:// URL."""
        full = self.key_of(key)
        self._call(full, self.client.upload_file, str(local_path), self.bucket, full)
        return self.url(full)

    def open(self, ref: str) -> BinaryIO:
        """A streaming reader of `ref` (botocore StreamingBody: read in chunks, close when done)."""
        key = self.key_of(ref)
        return self._call(PurePosixPath(key).name, self.client.get_object, Bucket=self.bucket, Key=key)["Body"]

    def list_outputs(self, suffix: str, limit: int = 50) -> list[tuple[str, int, float]]:
        """``(s3 URL, size in bytes, modified epoch s)`` of output files ending in `suffix`, newest
        first (at most `limit`; lists at most 10,000 keys under ``outputs/``)."""
        found = []
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=f"{self.prefix}outputs/", PaginationConfig={"MaxItems": 10_000})
        try:
            for page in pages:
                for obj in page.get("Contents", []):
                    if obj["Key"].endswith(suffix):
                        found.append((self.url(obj["Key"]), int(obj["Size"]), obj["LastModified"].timestamp()))
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError, OSError) as exc:
            raise ServiceUnavailable(f"S3 storage is unreachable: {exc}") from exc
        return sorted(found, key=lambda f: f[2], reverse=True)[:limit]

    def exists(self, ref: str) -> bool:
        try:
            self._call(ref, self.client.head_object, Bucket=self.bucket, Key=self.key_of(ref))
            return True
        except InvalidInput:
            return False


