#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: flaskfleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: artifact_fetch
short_description: Fetch a release artifact from a URL or an S3 object and check its sha256
version_added: 0.1.0
description:
  - Downloads the artifact at O(url) (C(http://), C(https://), C(file://) or C(s3://bucket/key))
    into the directory O(dest), hashing it on the way, and keeps it only when its sha256 is
    O(sha256). A mismatch removes the download and fails with one line; nothing else changes.
  - A file already in O(dest) with that checksum is not fetched again.
  - The C(flaskfleet.cloud.flask_app) role runs it once, on the controller
    (C(delegate_to=localhost)), when C(flask_app_artifact_url) is set, before any host changes;
    hosts never need to reach the URL.
  - C(s3://) objects are read with boto3 through the collection's AWS client factory, so
    O(endpoint_url) (an S3-compatible server, moto) and the usual credentials apply.
extends_documentation_fragment:
  - flaskfleet.cloud.attributes
  - flaskfleet.cloud.aws
attributes:
  check_mode:
    support: full
    details: Reports whether the artifact would be fetched; nothing is downloaded or written.
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  url:
    description:
      - Where the artifact is, C(http://...), C(https://...), C(file:///...) or C(s3://bucket/key).
      - The file name in O(dest) is the last path component of the URL.
    type: str
    required: true
  sha256:
    description: The artifact's sha256 (64 hex digits); anything else is refused.
    type: str
    required: true
  dest:
    description: Directory the artifact is stored in (created when missing).
    type: path
    required: true
  timeout:
    description: Seconds an HTTP connection may stay silent.
    type: int
    default: 60
notes:
  - Only C(s3://) URLs need boto3 and the AWS options; for them O(region) (or E(AWS_REGION)) is
    required.
seealso:
  - module: flaskfleet.cloud.release
"""

EXAMPLES = r"""
- name: Fetch the release artifact once, on the controller
  flaskfleet.cloud.artifact_fetch:
    url: https://artifacts.example.com/hello/hello-20261129T101500Z.tar.gz
    sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
    dest: ~/.cache/flaskfleet/artifacts
  delegate_to: localhost
  run_once: true
  register: fetched

- name: Fetch it from an S3 bucket (or an S3-compatible endpoint)
  flaskfleet.cloud.artifact_fetch:
    url: s3://releases/hello/hello-20261129T101500Z.tar.gz
    sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
    dest: ~/.cache/flaskfleet/artifacts
    region: eu-west-1
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
path:
  description: The artifact's path in O(dest).
  returned: always
  type: str
  sample: /home/alice/.cache/flaskfleet/artifacts/hello-20261129T101500Z.tar.gz
sha256:
  description: Its sha256 (equal to O(sha256)).
  returned: always
  type: str
  sample: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
size:
  description: Its size in bytes (null in check mode before a fetch).
  returned: always
  type: int
  sample: 10485760
"""

import hashlib
import os
import posixpath
import re
import tempfile
from urllib.error import HTTPError, URLError
from urllib.parse import unquote, urlsplit

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.urls import open_url
from ansible_collections.flaskfleet.cloud.plugins.module_utils._aws import (
    AWS_COMMON_ARGUMENT_SPEC,
    HAS_BOTO3,
    AWSError,
    aws_error_handler,
    create_client,
)

SHA256_RE = re.compile(r"^[0-9a-fA-F]{64}$")
SCHEMES = ("http", "https", "file", "s3")
CHUNK = 1 << 20


class FetchError(Exception):
    """One line saying what went wrong and what to check."""


def file_sha256(path):
    """sha256 of a local file, or ``None`` when it does not exist."""
    if not os.path.isfile(path):
        return None
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def target_name(url):
    """The file name the artifact gets: the URL's last path component, which must be a plain name."""
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        raise FetchError("url %r: use http://, https://, file:// or s3://bucket/key" % url)
    name = posixpath.basename(unquote(parts.path))
    if not name or name in (".", "..") or (parts.scheme == "s3" and not parts.netloc):
        raise FetchError("url %r does not name a file: give the artifact's full URL" % url)
    return name


@aws_error_handler("get the S3 object")
def _s3_body(client, bucket, key):
    """The streaming body of an S3 object."""
    return client.get_object(Bucket=bucket, Key=key)["Body"]


def open_source(module, url):
    """A readable file object for ``url``."""
    parts = urlsplit(url)
    if parts.scheme == "s3":
        if not HAS_BOTO3:
            raise FetchError("s3:// URLs need boto3 and botocore on the machine running this task")
        client = create_client("s3", module.params)
        return _s3_body(client, parts.netloc, parts.path.lstrip("/"))
    try:
        return open_url(url, timeout=module.params["timeout"], follow_redirects="safe")
    except HTTPError as exc:
        raise FetchError("cannot fetch %s: HTTP %d %s" % (url, exc.code, exc.reason)) from exc
    except (URLError, OSError, ValueError) as exc:
        raise FetchError("cannot fetch %s: %s" % (url, getattr(exc, "reason", exc))) from exc


def download(module, url, dest_dir, name, wanted):
    """Copy ``url`` into ``dest_dir/name`` only when its sha256 is ``wanted``; returns the size."""
    fd, tmp = tempfile.mkstemp(prefix=".%s." % name, dir=dest_dir)
    try:
        digest, size = hashlib.sha256(), 0
        source = open_source(module, url)
        with os.fdopen(fd, "wb") as out:
            for chunk in iter(lambda: source.read(CHUNK), b""):
                digest.update(chunk)
                out.write(chunk)
                size += len(chunk)
        if digest.hexdigest() != wanted:
            raise FetchError(
                "artifact %s: sha256 mismatch (expected %s..., got %s...): the file changed or the checksum is"
                " wrong; nothing was deployed" % (url, wanted[:12], digest.hexdigest()[:12])
            )
        os.chmod(tmp, 0o644)
        os.rename(tmp, os.path.join(dest_dir, name))
        return size
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def ensure_fetched(module):
    """Observe the cache, fetch when needed, report."""
    p = module.params
    if not SHA256_RE.match(p["sha256"] or ""):
        raise FetchError("sha256 must be 64 hex digits (the artifact's sha256), got %r" % p["sha256"])
    wanted = p["sha256"].lower()
    name = target_name(p["url"])
    path = os.path.join(p["dest"], name)
    result = dict(changed=False, path=path, sha256=wanted, size=None)
    if file_sha256(path) == wanted:
        result["size"] = os.path.getsize(path)
        return result
    result["changed"] = True
    if module.check_mode:
        return result
    if not os.path.isdir(p["dest"]):
        os.makedirs(p["dest"], 0o755)
    result["size"] = download(module, p["url"], p["dest"], name, wanted)
    return result


def main():
    """Entry point: parse, observe, fetch, report."""
    spec = dict(AWS_COMMON_ARGUMENT_SPEC)
    spec.update(
        url=dict(type="str", required=True),
        sha256=dict(type="str", required=True),
        dest=dict(type="path", required=True),
        timeout=dict(type="int", default=60),
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    try:
        module.exit_json(**ensure_fetched(module))
    except (FetchError, AWSError) as exc:
        module.fail_json(msg=str(exc))
    except OSError as exc:
        module.fail_json(msg="cannot store the artifact in %s: %s" % (module.params["dest"], exc))


if __name__ == "__main__":
    main()
