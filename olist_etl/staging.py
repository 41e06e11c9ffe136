"""The staging area: a local folder (file://) or an S3 prefix (s3://bucket/prefix).

Keys are relative, '/'-separated paths such as `runs/<run_id>/orders/part-00000.csv.gz`.
S3 honours AWS_ENDPOINT_URL (boto3 reads it), so tests run against a moto server.

S3 requests are retried by botocore's "standard" mode (500, 503 SlowDown, throttling, dropped
connections; jittered exponential backoff). What still fails is raised as StagingError naming the
operation and the s3://bucket/key, and says whether another attempt later could help.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import IO, Iterator, Protocol
from urllib.parse import unquote, urlparse


# Attempts per S3 request, the first included (botocore's own default is 3 in standard mode):
# enough to ride out a burst of SlowDown or a restarting endpoint. AWS_MAX_ATTEMPTS and
# AWS_RETRY_MODE override them, as they do for any AWS SDK.
S3_MAX_ATTEMPTS = 8
S3_RETRY_MODE = "standard"

# Error codes S3 answers for conditions that pass: another attempt later may succeed.
_TRANSIENT_CODES = frozenset(
    {"SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "InternalError", "ServiceUnavailable"}
)


class StagingError(RuntimeError):
    """An S3 request failed after botocore's retries. The message names the operation and the object.

    `transient` is True for 5xx answers, throttling and network errors (a later attempt may
    succeed) and False for errors that will not fix themselves (a missing bucket, access denied).
    """

    def __init__(self, message: str, *, transient: bool):
        super().__init__(message)
        self.transient = transient

    @property
    def retryable(self) -> bool:
        return self.transient


class StagingArea(Protocol):
    url: str

    def writer(self, key: str) -> contextlib.AbstractContextManager[IO[bytes]]: ...
    def reader(self, key: str) -> contextlib.AbstractContextManager[IO[bytes]]: ...
    def exists(self, key: str) -> bool: ...
    def list(self, prefix: str) -> list[str]: ...
    def uri(self, key: str) -> str: ...
    def copy(self, src: str, dst: str) -> None: ...


def write_json(area: StagingArea, key: str, obj: object) -> None:
    with area.writer(key) as out:
        out.write(json.dumps(obj, indent=2, sort_keys=True, default=str).encode())


def read_json(area: StagingArea, key: str) -> object:
    with area.reader(key) as src:
        return json.loads(src.read())


class LocalStaging:
    def __init__(self, root: Path):
        self.root = root
        self.url = root.as_uri()

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root.resolve() not in path.parents:
            raise ValueError(f"staging key escapes the staging folder: {key!r}")
        return path

    @contextlib.contextmanager
    def writer(self, key: str) -> Iterator[IO[bytes]]:
        # Write to a temporary name and rename: a killed run never leaves a half file under the key.
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".partial")
        try:
            with open(tmp, "wb") as out:
                yield out
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        os.replace(tmp, path)

    @contextlib.contextmanager
    def reader(self, key: str) -> Iterator[IO[bytes]]:
        with open(self._path(key), "rb") as src:
            yield src

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list(self, prefix: str) -> list[str]:
        base = self.root
        if not base.exists():
            return []
        keys = [p.relative_to(base).as_posix() for p in base.rglob("*") if p.is_file()]
        return sorted(k for k in keys if k.startswith(prefix) and not k.endswith(".partial"))

    def uri(self, key: str) -> str:
        return self._path(key).as_uri()

    def copy(self, src: str, dst: str) -> None:
        target = self._path(dst)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self._path(src), target)


def s3_client_config():
    """botocore settings of every staging client: standard retries, bounded waits."""
    from botocore.config import Config

    retries = {
        "mode": os.environ.get("AWS_RETRY_MODE") or S3_RETRY_MODE,
        "max_attempts": int(os.environ.get("AWS_MAX_ATTEMPTS") or S3_MAX_ATTEMPTS),
    }
    return Config(retries=retries, connect_timeout=10, read_timeout=60)


def s3_probe_config():
    """botocore settings of `olist-etl check` and the pre-check of `sync`: one retry, short waits.

    A wrong endpoint or bucket must be reported in seconds; the pipeline's own clients keep the
    patient settings above for the transient errors of a long run.
    """
    from botocore.config import Config

    return Config(retries={"mode": "standard", "max_attempts": 2}, connect_timeout=3, read_timeout=10)


class S3Staging:
    def __init__(self, bucket: str, prefix: str, client=None):
        import boto3

        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.url = f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}"
        self._client = client or boto3.client("s3", config=s3_client_config())

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    @contextlib.contextmanager
    def _errors(self, operation: str, key: str, source: str | None = None) -> Iterator[None]:
        """Re-raise what botocore gives up on as a StagingError naming the object (and a copy's source)."""
        from botocore.exceptions import BotoCoreError, ClientError

        where = f"S3 {operation} of {self.uri(key)}" + (f" from {self.uri(source)}" if source else "")
        try:
            yield
        except ClientError as err:
            error = err.response.get("Error", {})
            status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
            code = error.get("Code") or str(status)
            transient = status >= 500 or status == 429 or code in _TRANSIENT_CODES
            raise StagingError(f"{where} failed: {code}: {error.get('Message') or err}", transient=transient) from err
        except BotoCoreError as err:  # no answer at all: connection refused or dropped, timeout
            raise StagingError(f"{where} failed: {err}", transient=True) from err

    @contextlib.contextmanager
    def writer(self, key: str) -> Iterator[IO[bytes]]:
        # Spool to disk and upload once: S3 objects appear whole or not at all.
        with tempfile.TemporaryFile() as tmp:
            yield tmp
            tmp.seek(0)
            with self._errors("PutObject", key):
                self._client.upload_fileobj(tmp, self.bucket, self._key(key))

    @contextlib.contextmanager
    def reader(self, key: str) -> Iterator[IO[bytes]]:
        with self._errors("GetObject", key):
            body = self._client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"]
        try:
            # Reading the body can fail too (a connection dropped mid-object): botocore does not
            # retry that, so it is named like the request's own errors.
            with self._errors("GetObject (reading the body)", key):
                yield body
        finally:
            body.close()

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        with self._errors("HeadObject", key):
            try:
                self._client.head_object(Bucket=self.bucket, Key=self._key(key))
                return True
            except ClientError as err:
                if err.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                    return False
                raise

    def list(self, prefix: str) -> list[str]:
        paginator = self._client.get_paginator("list_objects_v2")
        full = self._key(prefix)
        strip = len(self.prefix) + 1 if self.prefix else 0
        keys = []
        with self._errors("ListObjectsV2", prefix):
            for page in paginator.paginate(Bucket=self.bucket, Prefix=full):
                keys.extend(obj["Key"][strip:] for obj in page.get("Contents", []))
        return sorted(keys)

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._key(key)}"

    def copy(self, src: str, dst: str) -> None:
        with self._errors("CopyObject", dst, source=src):
            self._client.copy_object(
                Bucket=self.bucket, Key=self._key(dst), CopySource={"Bucket": self.bucket, "Key": self._key(src)}
            )


def open_staging(url: str) -> StagingArea:
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return LocalStaging(Path(unquote(parsed.path)))
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise ValueError(f"staging URL {url!r} names no bucket")
        return S3Staging(parsed.netloc, parsed.path)
    if parsed.scheme == "":
        return LocalStaging(Path(url).resolve())
    raise ValueError(f"unsupported staging URL {url!r}: use file:// or s3://bucket/prefix")
