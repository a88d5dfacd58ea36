"""flaskfleet.cloud.artifact_fetch against moto's S3: an artifact object fetched once and checked by sha256."""

from __future__ import annotations

import hashlib
import uuid

import boto3
import pytest
from awsfake import REGION

pytestmark = pytest.mark.aws

BODY = b"not really a tarball, but bytes with a known sha256\n" * 1000
SHA = hashlib.sha256(BODY).hexdigest()


@pytest.fixture
def bucket(moto) -> str:
    """A fresh bucket holding ``hello/hello-20261129T101500Z.tar.gz``."""
    name = f"t-artifacts-{uuid.uuid4().hex[:8]}"
    s3 = boto3.client("s3", region_name=REGION, endpoint_url=moto.url, aws_access_key_id="testing-key-id",
                      aws_secret_access_key="testing-secret-key")  # fmt: skip
    s3.create_bucket(Bucket=name)  # us-east-1: no location constraint
    s3.put_object(Bucket=name, Key="hello/hello-20261129T101500Z.tar.gz", Body=BODY)
    return name


def fetch(bucket: str, dest, sha256: str = SHA, key: str = "hello/hello-20261129T101500Z.tar.gz") -> dict:
    return {"flaskfleet.cloud.artifact_fetch": {"url": f"s3://{bucket}/{key}", "sha256": sha256, "dest": str(dest)}}


def test_s3_object_is_fetched_once_and_verified(play, bucket, tmp_path):
    proc, (first, second) = play([fetch(bucket, tmp_path / "cache"), fetch(bucket, tmp_path / "cache")])
    assert proc.returncode == 0, proc.stdout[-3000:]
    target = tmp_path / "cache" / "hello-20261129T101500Z.tar.gz"
    assert (first["changed"], first["path"], first["size"]) == (True, str(target), len(BODY))
    assert target.read_bytes() == BODY
    assert second["changed"] is False  # already there with this checksum: not fetched again


def test_checksum_mismatch_is_refused_and_leaves_nothing(play, bucket, tmp_path):
    wrong = hashlib.sha256(b"other").hexdigest()
    proc, (result,) = play([fetch(bucket, tmp_path / "cache", sha256=wrong)])
    assert proc.returncode != 0
    assert result["msg"] == (
        f"artifact s3://{bucket}/hello/hello-20261129T101500Z.tar.gz: sha256 mismatch (expected {wrong[:12]}...,"
        f" got {SHA[:12]}...): the file changed or the checksum is wrong; nothing was deployed"
    )
    assert list((tmp_path / "cache").iterdir()) == []


def test_missing_object_is_one_line(play, bucket, tmp_path):
    proc, (result,) = play([fetch(bucket, tmp_path / "cache", key="hello/nope.tar.gz")])
    assert proc.returncode != 0
    assert result["msg"].startswith("get the S3 object failed: NoSuchKey:")
    assert "\n" not in result["msg"]
