"""Credentials as Prefect blocks: `olist-etl blocks create` saves them, flows read them.

Blocks are used when OLIST_BLOCKS names their prefix (e.g. OLIST_BLOCKS=olist); otherwise the
flow reads the environment only. With a prefix P:

    P-source-url      Secret          OLIST_SOURCE_URL
    P-warehouse-url   Secret          OLIST_WAREHOUSE_URL
    P-aws             AwsCredentials  AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN,
                                      AWS_DEFAULT_REGION, AWS_ENDPOINT_URL
    P-staging         S3Bucket        OLIST_STAGING_URL when it is s3://bucket/prefix

A block that exists wins over the environment variable; a missing one falls back to it, and the
log names where each value came from (never the value). Block values are encrypted at rest by
Prefect and are never flow parameters.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import replace
from typing import Mapping
from urllib.parse import urlsplit

from olist_etl.settings import SecretUrl, Settings

log = logging.getLogger(__name__)

BLOCKS_ENV = "OLIST_BLOCKS"
DEFAULT_PREFIX = "olist"

# AwsCredentials field -> environment variable boto3 reads (the staging area uses plain boto3).
_AWS_ENV = {
    "aws_access_key_id": "AWS_ACCESS_KEY_ID",
    "aws_secret_access_key": "AWS_SECRET_ACCESS_KEY",
    "aws_session_token": "AWS_SESSION_TOKEN",
    "region_name": "AWS_DEFAULT_REGION",
}


def block_names(prefix: str) -> dict[str, str]:
    return {
        "source": f"{prefix}-source-url",
        "warehouse": f"{prefix}-warehouse-url",
        "aws": f"{prefix}-aws",
        "staging": f"{prefix}-staging",
    }


def create_blocks(environ: Mapping[str, str], prefix: str = DEFAULT_PREFIX) -> list[str]:
    """Save (overwrite) the blocks the environment has values for; returns '<type> <name>' lines."""
    from prefect.blocks.system import Secret
    from prefect_aws import AwsClientParameters, AwsCredentials, S3Bucket

    names = block_names(prefix)
    created: list[str] = []
    for key, variable in (("source", "OLIST_SOURCE_URL"), ("warehouse", "OLIST_WAREHOUSE_URL")):
        if environ.get(variable):
            Secret(value=environ[variable]).save(names[key], overwrite=True)
            created.append(f"Secret {names[key]} (from {variable})")
    aws = None
    if environ.get("AWS_ACCESS_KEY_ID"):
        aws = AwsCredentials(
            **{field: environ[var] for field, var in _AWS_ENV.items() if environ.get(var)},
            aws_client_parameters=AwsClientParameters(endpoint_url=environ.get("AWS_ENDPOINT_URL") or None),
        )
        aws.save(names["aws"], overwrite=True)
        created.append(f"AwsCredentials {names['aws']} (from AWS_*)")
    staging = environ.get("OLIST_STAGING_URL") or ""
    if staging.startswith("s3://"):
        parts = urlsplit(staging)
        bucket = S3Bucket(bucket_name=parts.netloc, bucket_folder=parts.path.strip("/"), credentials=aws or AwsCredentials())
        bucket.save(names["staging"], overwrite=True)
        created.append(f"S3Bucket {names['staging']} (from OLIST_STAGING_URL)")
    return created


def _load(block_cls, name: str):
    """The block, or None when no block of that name exists."""
    try:
        return block_cls.load(name)
    except ValueError as err:  # Prefect's "Unable to find block document named ..."
        if "Unable to find block document" in str(err):
            return None
        raise


def settings_with_blocks(settings: Settings, environ: Mapping[str, str] | None = None) -> Settings:
    """Settings with the values of the blocks that exist, when OLIST_BLOCKS names a prefix.

    AwsCredentials are exported into this process's environment, because the staging area's boto3
    client (and every part reader) builds its session from there.
    """
    environ = os.environ if environ is None else environ
    prefix = environ.get(BLOCKS_ENV)
    if not prefix:
        return settings
    from prefect.blocks.system import Secret
    from prefect_aws import AwsCredentials, S3Bucket

    names = block_names(prefix)
    changes: dict = {}
    sources: dict[str, str] = {}
    for key, field in (("source", "source_url"), ("warehouse", "warehouse_url")):
        block = _load(Secret, names[key])
        if block is not None:
            changes[field] = SecretUrl(block.get())
        sources[key] = f"block {names[key]}" if block is not None else "environment"
    aws = _load(AwsCredentials, names["aws"])
    if aws is not None:
        _export_aws(aws)
    sources["aws"] = f"block {names['aws']}" if aws is not None else "environment"
    bucket = _load(S3Bucket, names["staging"])
    if bucket is not None:
        folder = (bucket.bucket_folder or "").strip("/")
        changes["staging_url"] = f"s3://{bucket.bucket_name}/{folder}" if folder else f"s3://{bucket.bucket_name}"
    sources["staging"] = f"block {names['staging']}" if bucket is not None else "environment"
    log.info("settings from: %s", ", ".join(f"{k}={v}" for k, v in sources.items()))
    return replace(settings, **changes)


def _export_aws(aws) -> None:
    values = {
        "AWS_ACCESS_KEY_ID": aws.aws_access_key_id,
        "AWS_SECRET_ACCESS_KEY": aws.aws_secret_access_key.get_secret_value() if aws.aws_secret_access_key else None,
        "AWS_SESSION_TOKEN": aws.aws_session_token,
        "AWS_DEFAULT_REGION": aws.region_name,
        "AWS_ENDPOINT_URL": aws.aws_client_parameters.endpoint_url if aws.aws_client_parameters else None,
    }
    for variable, value in values.items():
        if value:
            os.environ[variable] = str(value)


NOTIFY_ENV = "OLIST_NOTIFY_BLOCK"
# scheme://user:password@ -> scheme://user:***@, for any URL an exception message may carry.
# Greedy to the token's last "@": a password may hold an unescaped "@" and must not leak its tail.
_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.\-]*://[^:/@\s]*:)\S+@", re.IGNORECASE)


def mask_passwords(text: str) -> str:
    return _URL_PASSWORD.sub(r"\g<head>***@", text)


def notify_failure(flow, flow_run, state) -> None:
    """on_failure / on_crashed hook: tell people when a sync is blocked, fails or crashes.

    OLIST_NOTIFY_BLOCK names a Prefect notification block as "<block-type-slug>/<name>", e.g.
    "slack-webhook/olist-alerts", "sendgrid-email/olist-oncall" or "custom-webhook/olist-alerts".
    Unset: no notification. The message carries the run, its state and its error, passwords masked.
    """
    name = os.environ.get(NOTIFY_ENV)
    if not name:
        return
    from prefect.blocks.core import Block

    block = Block.load(name)
    parameters = flow_run.parameters or {}
    subject = f"olist-sync {parameters.get('mode', '')} run {flow_run.name}: {state.name}"
    body = mask_passwords(f"{subject}\nflow run id: {flow_run.id}\n{state.message or ''}")
    block.notify(body=body, subject=subject)
