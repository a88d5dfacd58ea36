"""The bad-input corpus: every way a user can get the input wrong gets one clear line, no traceback.

Each case is one real command a user could type (``ansible`` ad hoc with one of our modules,
``ansible-playbook`` with one of our roles, ``ansible-inventory`` with a fleet config, or the
``flaskfleet`` CLI) with one thing wrong. Each case asserts:

* the exit status of that command;
* the exact fragment of the user-facing message (in the module/role result's ``msg`` for Ansible,
  on stderr for the CLI), and that ``msg`` is a single line;
* that no Python traceback was printed (stdout and stderr);
* that nothing changed: the release layouts the cases point at are byte-for-byte the same, no
  container carries the corpus' labels, moto holds no instance, no artifact was written.

The cases run a few at a time in one module-scoped fixture (each is a separate process, so the
exit status is the real one); the parametrized test then checks one case's outcome. Nothing here
needs a running host: modules run on the controller with ``connection: local`` against temporary
directories, roles are aimed at a host on a closed port (argument validation and preflight
checks run on the controller, anything past them would fail unreachable).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import socket
import subprocess
import tarfile
import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, VENV_BIN

pytestmark = pytest.mark.faults

APP = "corpus"
RELEASE = "20260101T000000Z"
OLD_RELEASE = "20250101T000000Z"
DOCKER_APP = "tfcorpus"  # label flaskfleet.app of anything a docker_host case might wrongly create
TRACEBACK = "Traceback (most recent call last)"
WORKERS = 3


# --------------------------------------------------------------------------- bad artifacts


def _tar_bytes(members: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    """A .tar.gz of the given members, in order."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz", format=tarfile.GNU_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return raw.getvalue()


def _file(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o644, 1_700_000_000
    return info, data


def _link(name: str, target: str, hard: bool = False) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = tarfile.LNKTYPE if hard else tarfile.SYMTYPE
    info.linkname, info.mtime = target, 1_700_000_000
    return info, None


def _special(name: str, kind: bytes) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type, info.mtime = kind, 1_700_000_000
    return info, None


WHEEL = "wheels/corpus-0.1.0-py3-none-any.whl"
WHEEL_BYTES = b"not really a wheel, never installed: verification fails first\n"


def manifest(files: dict[str, bytes] | None = None, **overrides) -> dict:
    """A manifest like flaskfleet.artifact writes, for ``files``."""
    files = {WHEEL: WHEEL_BYTES} if files is None else files
    data = {
        "format": 1,
        "app": APP,
        "version": "0.1.0",
        "release_id": RELEASE,
        "wsgi": "corpus:app",
        "requirement": "corpus==0.1.0",
        "static": None,
        "python": "3.11",
        "files": {name: hashlib.sha256(body).hexdigest() for name, body in files.items()},
    }
    data.update(overrides)
    return data


def artifact(manifest_data: dict | bytes | None = None, members=None, extra=()) -> bytes:
    """An artifact: the manifest first, then ``members`` (default: the files it lists), then ``extra``."""
    manifest_data = manifest() if manifest_data is None else manifest_data
    body = manifest_data if isinstance(manifest_data, bytes) else json.dumps(manifest_data).encode()
    members = [_file(WHEEL, WHEEL_BYTES)] if members is None else members
    return _tar_bytes([_file("manifest.json", body), *members, *extra])


BAD_ARTIFACTS: dict[str, Callable[[], bytes]] = {
    "tampered": lambda: artifact(members=[_file(WHEEL, WHEEL_BYTES + b"evil")]),
    "missing-file": lambda: artifact(members=[]),
    "extra-file": lambda: artifact(extra=[_file("wheels/evil-1.0-py3-none-any.whl", b"x")]),
    "traversal": lambda: artifact(extra=[_file("../../etc/passwd", b"root::0:0::/:/bin/sh\n")]),
    "absolute": lambda: artifact(extra=[_file("/etc/passwd", b"root::0:0::/:/bin/sh\n")]),
    "symlink-out": lambda: artifact(extra=[_link("static/passwd", "../../../../etc/passwd")]),
    "symlink-abs": lambda: artifact(extra=[_link("static/shadow", "/etc/shadow")]),
    "hardlink-in": lambda: artifact(extra=[_link("static/copy.whl", WHEEL, hard=True)]),
    "fifo": lambda: artifact(extra=[_special("static/pipe", tarfile.FIFOTYPE)]),
    "no-manifest": lambda: _tar_bytes([_file(WHEEL, WHEEL_BYTES)]),
    "manifest-not-json": lambda: artifact(b"{not json"),
    "manifest-no-wsgi": lambda: artifact(manifest(wsgi="")),
    "manifest-unsafe-path": lambda: artifact(manifest(files={WHEEL: WHEEL_BYTES, "../x": b"x"})),
    "wrong-app": lambda: artifact(manifest(app="other")),
    "wrong-release": lambda: artifact(manifest(release_id="20270101T000000Z")),
    "duplicate": lambda: artifact(extra=[_file(WHEEL, WHEEL_BYTES)]),
    "not-targz": lambda: b"PK\x03\x04 this is a zip file, not a tarball",
    "truncated": lambda: artifact()[:200],
}


# --------------------------------------------------------------------------- the world the cases see


@dataclass
class World:
    """Paths and processes every case may refer to."""

    tmp: Path
    env: dict[str, str]
    moto_url: str = ""

    @property
    def base(self) -> Path:
        """base_dir of the release cases: holds app ``corpus`` with one complete, current release."""
        return self.tmp / "srv"

    @property
    def layout(self) -> Path:
        return self.base / APP

    def bad(self, name: str) -> Path:
        """Path of the bad artifact ``name`` (written by :func:`world`)."""
        return self.tmp / "artifacts" / f"{name}.tar.gz"


@dataclass
class Outcome:
    """What one case's command did."""

    rc: int
    stdout: str
    stderr: str
    message: str  # the module/role ``msg`` or the CLI's stderr


@dataclass(frozen=True)
class Case:
    """One bad input: how to run it, the exit status and the fragments the user must see."""

    id: str
    kind: str  # module | role | inventory | cli
    spec: dict = field(hash=False)
    rc: int
    fragments: tuple[str, ...]
    xfail: str = ""


def module(case_id: str, name: str, args: dict, *fragments: str, rc: int = 2, xfail: str = "") -> Case:
    """``ansible localhost -m flaskfleet.cloud.NAME -a ARGS`` (strings in args may use {base}, {tmp}, {bad:X})."""
    return Case(case_id, "module", {"module": name, "args": args}, rc, fragments, xfail)


def role(case_id: str, name: str, variables: dict, *fragments: str, rc: int = 2) -> Case:
    """``ansible-playbook`` of a play that includes role NAME with VARIABLES."""
    return Case(case_id, "role", {"role": name, "vars": variables}, rc, fragments)


def inventory(case_id: str, text: str, *fragments: str, rc: int = 1, xfail: str = "") -> Case:
    """``ansible-inventory --list`` of a fleet config (unparsed sources are errors, as in CI)."""
    return Case(case_id, "inventory", {"text": text}, rc, fragments, xfail)


def cli(case_id: str, args: list[str], *fragments: str, rc: int = 1) -> Case:
    """The ``flaskfleet`` command (the same tasks as ``invoke``)."""
    return Case(case_id, "cli", {"args": args}, rc, fragments)


REL = {"app": APP, "base_dir": "{base}"}
STAGE = {**REL, "state": "staged", "release_id": RELEASE}
LOCK = {"path": "{tmp}/locks/held.lock", "run_id": "run-mine", "holder": "me@here"}
DOCKER = {"name": "tfc", "app": DOCKER_APP, "count": 1, "ssh_public_key_file": str(ROOT / ".flaskfleet/id_ed25519.pub")}
EC2 = {"name": "tfcorpus", "image_id": "ami-12c6146b", "region": "eu-west-1", "endpoint_url": "{moto}", "wait": False}
FLASK = {"flask_app_name": APP}

CASES: list[Case] = [
    # ---- release module: options
    module(
        "release-bad-app",
        "release",
        {**REL, "app": "Bad App", "state": "pruned"},
        "invalid app name 'Bad App': use a lowercase letter, then up to 31 lowercase letters, digits, '-' or '_'",
    ),
    module(
        "release-bad-id",
        "release",
        {**STAGE, "release_id": "yesterday", "artifact": "{bad:tampered}"},
        "invalid release id 'yesterday': expected YYYYMMDDTHHMMSSZ",
    ),
    module(
        "release-bad-state",
        "release",
        {**REL, "state": "deployed"},
        "value of state must be one of: staged, active, rolled_back, pruned, absent, got: deployed",
    ),
    module(
        "release-staged-no-id",
        "release",
        {**REL, "state": "staged"},
        "state is staged but all of the following are missing: release_id",
    ),
    module(
        "release-keep-zero",
        "release",
        {**REL, "state": "pruned", "keep_releases": 0},
        "keep_releases must be 1 or more, got 0",
    ),
    module(
        "release-keep-word",
        "release",
        {**REL, "state": "pruned", "keep_releases": "many"},
        "argument 'keep_releases' is of type str",
        "unable to convert to int",
    ),
    module(
        "release-activate-unknown",
        "release",
        {**REL, "state": "active", "release_id": RELEASE},
        f"release {RELEASE} is not staged on this host (staged releases: {OLD_RELEASE})",
    ),
    module(
        "release-activate-incomplete",
        "release",
        {**REL, "state": "active", "release_id": "20250601T000000Z"},
        "release 20250601T000000Z is incomplete (no .flaskfleet-release.json): stage it again",
    ),
    module(
        "release-rollback-nothing",
        "release",
        {**REL, "state": "rolled_back"},
        f"no complete release older than {OLD_RELEASE} to roll back to",
    ),
    module(
        "release-remove-current",
        "release",
        {**REL, "state": "absent", "release_id": OLD_RELEASE},
        f"release {OLD_RELEASE} is current: activate or roll back to another release before removing it",
    ),
    module(
        "release-owner-missing",
        "release",
        {**STAGE, "artifact": "{bad:tampered}", "owner": "no-such-user-x"},
        "owner 'no-such-user-x' does not exist on this host: create the user first",
    ),
    module(
        "release-artifact-missing",
        "release",
        {**STAGE, "artifact": "{tmp}/nowhere.tar.gz"},
        "nowhere.tar.gz not found on this host: upload it first",
    ),
    # ---- release module: artifact manifests and archives
    module(
        "artifact-tampered",
        "release",
        {**STAGE, "artifact": "{bad:tampered}"},
        f"checksum mismatch for {WHEEL}",
        "the artifact was changed or corrupted, upload it again",
    ),
    module(
        "artifact-missing-file",
        "release",
        {**STAGE, "artifact": "{bad:missing-file}"},
        f"file listed in the manifest is missing: {WHEEL}",
    ),
    module(
        "artifact-extra-file",
        "release",
        {**STAGE, "artifact": "{bad:extra-file}"},
        "file not listed in the manifest: wheels/evil-1.0-py3-none-any.whl",
    ),
    module(
        "artifact-path-traversal",
        "release",
        {**STAGE, "artifact": "{bad:traversal}"},
        "unsafe path '../../etc/passwd' leaves the release directory",
    ),
    module(
        "artifact-absolute-path",
        "release",
        {**STAGE, "artifact": "{bad:absolute}"},
        "unsafe absolute path '/etc/passwd'",
    ),
    module(
        "artifact-symlink-out",
        "release",
        {**STAGE, "artifact": "{bad:symlink-out}"},
        "link 'static/passwd' points outside the release (../../../../etc/passwd)",
    ),
    module(
        "artifact-symlink-absolute",
        "release",
        {**STAGE, "artifact": "{bad:symlink-abs}"},
        "link 'static/shadow' points outside the release (/etc/shadow)",
    ),
    module(
        "artifact-hardlink",
        "release",
        {**STAGE, "artifact": "{bad:hardlink-in}"},
        "link 'static/copy.whl' is not allowed: artifacts hold regular files only",
    ),
    module(
        "artifact-fifo",
        "release",
        {**STAGE, "artifact": "{bad:fifo}"},
        "'static/pipe' is not a regular file or directory",
    ),
    module(
        "artifact-no-manifest",
        "release",
        {**STAGE, "artifact": "{bad:no-manifest}"},
        "has no manifest.json: build it with flaskfleet.artifact",
    ),
    module(
        "artifact-manifest-not-json",
        "release",
        {**STAGE, "artifact": "{bad:manifest-not-json}"},
        "manifest.json is not valid JSON",
    ),
    module(
        "artifact-manifest-incomplete",
        "release",
        {**STAGE, "artifact": "{bad:manifest-no-wsgi}"},
        "manifest lacks wsgi",
    ),
    module(
        "artifact-manifest-unsafe-path",
        "release",
        {**STAGE, "artifact": "{bad:manifest-unsafe-path}"},
        "manifest lists unsafe path '../x'",
    ),
    module(
        "artifact-wrong-app", "release", {**STAGE, "artifact": "{bad:wrong-app}"}, "is for app 'other', not 'corpus'"
    ),
    module(
        "artifact-wrong-release",
        "release",
        {**STAGE, "artifact": "{bad:wrong-release}"},
        f"is release '20270101T000000Z', not '{RELEASE}'",
    ),
    module(
        "artifact-duplicate-member",
        "release",
        {**STAGE, "artifact": "{bad:duplicate}"},
        f"'{WHEEL}' appears twice in the archive",
    ),
    module(
        "artifact-not-targz",
        "release",
        {**STAGE, "artifact": "{bad:not-targz}"},
        "not-targz.tar.gz is not a readable .tar.gz",
    ),
    module(
        "artifact-truncated",
        "release",
        {**STAGE, "artifact": "{bad:truncated}"},
        "truncated.tar.gz is not a readable .tar.gz",
    ),
    # ---- deploy_lock module
    module(
        "lock-no-holder",
        "deploy_lock",
        {"path": "{tmp}/locks/free.lock", "run_id": "r1"},
        "state is present but all of the following are missing: holder",
    ),
    module(
        "lock-no-run-id",
        "deploy_lock",
        {"path": "{tmp}/locks/free.lock", "holder": "me"},
        "missing required arguments: run_id",
    ),
    module(
        "lock-held",
        "deploy_lock",
        LOCK,
        "deploy lock held by alice@ci since 2026-01-01T00:00:00Z for release 20251231T000000Z (run run-alice);"
        " wait for it or re-run with flask_app_force_unlock=true to break it",
    ),
    module(
        "lock-release-foreign",
        "deploy_lock",
        {**LOCK, "state": "absent"},
        "belongs to run run-alice of alice@ci, not to run run-mine: not releasing it",
    ),
    module(
        "lock-bad-force",
        "deploy_lock",
        {**LOCK, "force": "perhaps"},
        "argument 'force' is of type str",
        "unable to convert to bool",
    ),
    # ---- docker_host module (runs on the controller, talks to the Docker engine)
    module(
        "docker-count-fraction",
        "docker_host",
        {**DOCKER, "count": 1.5},
        "count must be a whole number of hosts, 0 or more (got 1.5)",
    ),
    module(
        "docker-count-negative",
        "docker_host",
        {**DOCKER, "count": -1},
        "count must be 0 or more (got -1): it is the exact number of hosts to keep",
    ),
    module(
        "docker-bad-name",
        "docker_host",
        {**DOCKER, "name": "web 1"},
        "name 'web 1' is not a valid host name: use letters, digits and '-'",
    ),
    module(
        "docker-bad-port",
        "docker_host",
        {**DOCKER, "published_ports": [80, 70000]},
        "published_ports must be TCP ports between 1 and 65535 (got 70000)",
    ),
    module(
        "docker-bad-wait-timeout",
        "docker_host",
        {**DOCKER, "wait_timeout": 0},
        "wait_timeout must be between 1 and 3600 seconds (got 0)",
    ),
    module(
        "docker-bad-public-key",
        "docker_host",
        {**DOCKER, "ssh_public_key_file": None, "ssh_public_key": "hunter2"},
        "ssh_public_key does not hold one SSH public key (expected one line like 'ssh-ed25519 AAAA... comment')",
    ),
    module(
        "docker-key-file-missing",
        "docker_host",
        {**DOCKER, "ssh_public_key_file": "{tmp}/nokey.pub"},
        "nokey.pub does not exist: create a key pair",
    ),
    module(
        "docker-image-missing",
        "docker_host",
        {**DOCKER, "image": "flaskfleet/no-such-image:latest"},
        "image flaskfleet/no-such-image:latest was not found in the Docker engine: build it with"
        " scripts/build-image.sh",
    ),
    module(
        "docker-bad-state",
        "docker_host",
        {**DOCKER, "state": "running"},
        "value of state must be one of: present, absent, restarted, got: running",
    ),
    module(
        "docker-engine-unreachable",
        "docker_host",
        {**DOCKER, "docker_host": "unix:///nonexistent/docker.sock"},
        "Docker engine is not reachable at unix:///nonexistent/docker.sock",
    ),
    module(
        "docker-two-keys",
        "docker_host",
        {**DOCKER, "ssh_public_key": "ssh-ed25519 AAAA x"},
        "parameters are mutually exclusive: ssh_public_key|ssh_public_key_file",
    ),
    # ---- ec2_host module against moto
    module("ec2-volume-zero", "ec2_host", {**EC2, "volume_size": 0}, "volume_size must be at least 1 (GiB), got 0"),
    module(
        "ec2-imds-choice",
        "ec2_host",
        {**EC2, "metadata_http_tokens": "off"},
        "value of metadata_http_tokens must be one of: required, optional, got: off",
    ),
    module(
        "ec2-image-no-owner",
        "ec2_host",
        {**EC2, "image_id": None, "image": {"name": "debian-12-*"}},
        "missing required arguments: owner found in image",
    ),
    # ---- role variables (argument specs and preflight checks)
    role(
        "base-int-type",
        "base",
        {"base_sshd_max_auth_tries": "lots"},
        "argument 'base_sshd_max_auth_tries' is of type str",
        "unable to convert to int",
    ),
    role(
        "base-bad-choice",
        "base",
        {"base_sshd_permit_root_login": "yes"},
        "value of base_sshd_permit_root_login must be one of: no, prohibit-password, got: yes",
    ),
    role(
        "base-list-type",
        "base",
        {"base_packages": {"nginx": True}},
        "argument 'base_packages' is of type dict",
        "unable to convert to list",
    ),
    role(
        "nginx-app-missing",
        "nginx",
        {},
        "nginx_app_name must name the app (lowercase letters, digits, '-' or '_', starting with a letter), got ''",
    ),
    role(
        "nginx-port-type",
        "nginx",
        {"nginx_app_name": APP, "nginx_http_port": "eighty"},
        "argument 'nginx_http_port' is of type str",
        "unable to convert to int",
    ),
    role(
        "nginx-tls-bool",
        "nginx",
        {"nginx_app_name": APP, "nginx_tls": "maybe"},
        "argument 'nginx_tls' is of type str",
        "unable to convert to bool",
    ),
    role(
        "flask-app-bad-name",
        "flask_app",
        {"flask_app_name": "Hello World"},
        "flask_app_name: invalid app name 'Hello World': use a lowercase letter, then up to 31 lowercase"
        " letters, digits, '-' or '_'",
    ),
    role(
        "flask-app-workers-type",
        "flask_app",
        {**FLASK, "flask_app_workers": [2]},
        "argument 'flask_app_workers' is of type list",
        "unable to convert to int",
    ),
    role(
        "flask-app-env-type",
        "flask_app",
        {**FLASK, "flask_app_env": ["SECRET_KEY=1"]},
        "argument 'flask_app_env' is of type list",
        "unable to convert to dict",
    ),
    role(
        "flask-app-no-artifact",
        "flask_app",
        {**FLASK, "flask_app_artifact": "{tmp}/nothing.tar.gz"},
        "flask_app_artifact must be the path of an artifact (.tar.gz) built by flaskfleet.artifact on this"
        " controller (or give flask_app_artifact_url and flask_app_artifact_sha256); got '{tmp}/nothing.tar.gz'",
    ),
    role(
        "flask-app-other-app",
        "flask_app",
        {"flask_app_name": "other", "flask_app_artifact": "{bad:tampered}"},
        f"holds app 'corpus' release '{RELEASE}', but this deploy is for app 'other'",
    ),
    role(
        "provision-bad-provider",
        "provision",
        {"provision_provider": "openstack"},
        "value of provision_provider must be one of: docker, ec2, azure, gcp, got: openstack",
    ),
    role(
        "provision-host-no-name",
        "provision",
        {"provision_hosts": [{"group": "web", "count": 2}]},
        "missing required arguments: name found in provision_hosts",
    ),
    # ---- fleet inventory plugin configs
    inventory(
        "inventory-bad-provider",
        "plugin: flaskfleet.cloud.fleet\nproviders:\n  - type: openstack\n",
        "providers[0]: each provider needs a type, one of docker, ec2, azure, gcp (got {'type': 'openstack'})",
    ),
    inventory(
        "inventory-provider-not-mapping",
        "plugin: flaskfleet.cloud.fleet\nproviders: docker\n",
        "providers[0]: each provider needs a type, one of docker, ec2, azure, gcp (got 'docker')",
    ),
    inventory(
        "inventory-unknown-plugin",
        "plugin: flaskfleet.cloud.fleets\n",
        "specifies unknown plugin 'flaskfleet.cloud.fleets'",
    ),
    inventory(
        "inventory-option-type",
        "plugin: flaskfleet.cloud.fleet\nproviders:\n  - type: docker\n    api_timeout: soon\n",
        "providers[0] (docker): option 'api_timeout' of provider docker must be",
    ),
    inventory(
        "inventory-ec2-no-region",
        "plugin: flaskfleet.cloud.fleet\nproviders:\n  - type: ec2\n",
        "providers[0] (ec2): provider ec2 needs regions (e.g. regions: [eu-west-1]) or AWS_REGION",
    ),
    inventory(
        "inventory-yaml-syntax",
        "plugin: flaskfleet.cloud.fleet\nproviders:\n  - type: docker\n   app: x\n",
        "YAML parsing failed",
    ),
    inventory(
        "inventory-engine-unreachable",
        "plugin: flaskfleet.cloud.fleet\nproviders:\n  - type: docker\n"
        "    docker_host: unix:///nonexistent/docker.sock\n",
        "could not list hosts: Docker engine is not reachable at unix:///nonexistent/docker.sock",
    ),
    inventory(
        "inventory-misspelt-key",
        "plugin: flaskfleet.cloud.fleet\nproviderz:\n  - type: docker\n    app: x\n",
        "unknown option(s) providerz",
    ),
    # ---- task arguments (flaskfleet CLI = the invoke tasks)
    cli(
        "cli-unknown-pattern",
        ["hosts", "-H", "nosuch", "-i", "{static}"],
        "flaskfleet: host pattern 'nosuch' matches no host or group in the inventory",
    ),
    cli(
        "cli-missing-inventory",
        ["hosts", "-i", "{tmp}/none.fleet.yml"],
        "flaskfleet: inventory {tmp}/none.fleet.yml not found; create it or pass --inventory PATH",
    ),
    cli(
        "cli-bad-inventory",
        ["hosts", "-i", "{tmp}/inventory-bad-provider.fleet.yml"],
        "flaskfleet: cannot read inventory",
        "each provider needs a type, one of docker, ec2",
    ),
    cli(
        "cli-provision-engine-down",
        ["provision", "--count", "1", "--app-name", DOCKER_APP, "-i", "{tmp}/inventory-engine-unreachable.fleet.yml"],
        "flaskfleet: cannot read inventory",
        "could not list hosts: Docker engine is not reachable at unix:///nonexistent/docker.sock",
    ),
    cli(
        "cli-put-missing-local",
        ["put", "{tmp}/nothing-here", "/tmp/x", "-i", "{static}", "-H", "all"],
        "flaskfleet: local path {tmp}/nothing-here does not exist",
    ),
    cli(
        "cli-put-relative-remote",
        ["put", "{static}", "tmp/x", "-i", "{static}", "-H", "all"],
        "flaskfleet: remote path 'tmp/x' must be absolute (start with /)",
    ),
    cli(
        "cli-deploy-no-app",
        ["deploy", "--app-path", "{tmp}/empty-app", "-i", "{static}", "-H", "all"],
        "flaskfleet: no Python app in {tmp}/empty-app: expected a pyproject.toml or a requirements.txt",
    ),
    cli(
        "cli-deploy-bad-path",
        ["deploy", "--app-path", "{tmp}/no-such-dir", "-i", "{static}", "-H", "all"],
        "flaskfleet: app path {tmp}/no-such-dir is not a directory; pass --app-path DIR",
    ),
    cli(
        "cli-deploy-env-unset",
        ["deploy", "--env", "FF_CORPUS_UNSET", "-i", "{static}", "-H", "all"],
        "flaskfleet: environment variable FF_CORPUS_UNSET is not set",
    ),
    cli(
        "cli-run-bad-timeout",
        ["run", "true", "-t", "soon", "-i", "{static}", "-H", "all"],
        "flaskfleet: timeout must be a positive whole number, got 'soon'",
    ),
    cli(
        "cli-rollback-bad-id",
        ["rollback", "--to", "yesterday", "--app-name", APP, "-i", "{static}", "-H", "all"],
        "flaskfleet: invalid release id 'yesterday'",
    ),
]


# --------------------------------------------------------------------------- running the cases


def _fill(value, world: World):
    """Replace {base}, {tmp}, {moto}, {static} and {bad:NAME} in strings, recursively."""
    if isinstance(value, dict):
        return {k: _fill(v, world) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_fill(v, world) for v in value]
    if not isinstance(value, str):
        return value
    if value.startswith("{bad:"):
        return str(world.bad(value[5:-1]))
    places = {"{base}": world.base, "{tmp}": world.tmp, "{moto}": world.moto_url, "{static}": world.tmp / "static.yml"}
    for place, replacement in places.items():
        value = value.replace(place, str(replacement))
    return value


def _json_result(stdout: str) -> dict:
    """The first failed host result in the JSON callback's output (or the last result)."""
    data = json.loads(stdout[stdout.index("{") :])
    results = [r for play in data["plays"] for task in play["tasks"] for r in task["hosts"].values()]
    failed = [r for r in results if r.get("failed") or r.get("unreachable")]
    return (failed or results or [{}])[0]


def _run(args: list[str], world: World, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(a) for a in args], env={**world.env, **kw.pop("env", {})}, cwd=kw.pop("cwd", world.tmp),
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip


def run_module(case: Case, world: World) -> Outcome:
    args = _fill(case.spec["args"], world)
    proc = _run(
        ["ansible", "localhost", "-i", "localhost,", "-c", "local",
         "-e", f"ansible_python_interpreter={VENV_BIN / 'python'}",
         "-m", f"flaskfleet.cloud.{case.spec['module']}", "-a", json.dumps(args)],
        world, env={"ANSIBLE_LOAD_CALLBACK_PLUGINS": "1"},
    )  # fmt: skip
    return Outcome(proc.returncode, proc.stdout, proc.stderr, str(_json_result(proc.stdout).get("msg", "")))


def run_role(case: Case, world: World) -> Outcome:
    include = {"name": f"flaskfleet.cloud.{case.spec['role']}"}
    task = {"name": f"Run the {case.spec['role']} role", "ansible.builtin.include_role": include}
    task["vars"] = _fill(case.spec["vars"], world)
    play = [{"name": case.id, "hosts": "unreachable", "gather_facts": False, "tasks": [task]}]
    path = world.tmp / "plays" / f"{case.id}.yml"
    path.write_text(yaml.safe_dump(play, sort_keys=False))
    proc = _run(["ansible-playbook", "-i", world.tmp / "deadhost.yml", path], world)
    return Outcome(proc.returncode, proc.stdout, proc.stderr, str(_json_result(proc.stdout).get("msg", "")))


def run_inventory(case: Case, world: World) -> Outcome:
    path = world.tmp / f"{case.id}.fleet.yml"
    proc = _run(["ansible-inventory", "-i", path, "--list"], world, env={"ANSIBLE_INVENTORY_UNPARSED_FAILED": "1"})
    return Outcome(proc.returncode, proc.stdout, proc.stderr, proc.stderr)


def run_cli(case: Case, world: World) -> Outcome:
    proc = _run([VENV_BIN / "flaskfleet", *_fill(case.spec["args"], world)], world, cwd=world.tmp)
    return Outcome(proc.returncode, proc.stdout, proc.stderr, proc.stderr.strip())


RUNNERS = {"module": run_module, "role": run_role, "inventory": run_inventory, "cli": run_cli}


# --------------------------------------------------------------------------- "nothing changed"


def tree_state(top: Path) -> dict[str, str]:
    """Every path under ``top`` with what it is: file digest, link target or dir mode."""
    state = {}
    for path in sorted(top.rglob("*")):
        rel = str(path.relative_to(top))
        if path.is_symlink():
            state[rel] = "link:" + os.readlink(path)
        elif path.is_dir():
            state[rel] = "dir:%o" % (path.stat().st_mode & 0o7777)
        else:
            state[rel] = "file:" + hashlib.sha256(path.read_bytes()).hexdigest()
    return state


def corpus_containers() -> list[str]:
    """Containers a docker_host case would have created (label flaskfleet.app=tfcorpus)."""
    proc = subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label=flaskfleet.app={DOCKER_APP}"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return proc.stdout.split()


def moto_instances(url: str) -> list[str]:
    """Instance ids moto knows (any state)."""
    import boto3

    ec2 = boto3.client(
        "ec2", region_name="eu-west-1", endpoint_url=url, aws_access_key_id="k", aws_secret_access_key="s"
    )
    return [i["InstanceId"] for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def moto_url():
    """A moto_server of our own on 127.0.0.1 (stopped afterwards)."""
    port = _free_port()
    proc = subprocess.Popen(
        [str(VENV_BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{url}/moto-api/data.json", timeout=2).read()  # noqa: S310 - our local server
            break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError("moto_server did not start") from None
            time.sleep(0.2)
    yield url
    proc.terminate()
    proc.wait(timeout=10)


def _prepare(world: World) -> None:
    """The files the cases refer to: a layout with one live release, bad artifacts, a held lock, inventories."""
    live = world.layout / "releases" / OLD_RELEASE
    (live / "venv" / "bin").mkdir(parents=True)
    (live / ".flaskfleet-release.json").write_text(json.dumps({"app": APP, "release_id": OLD_RELEASE}))
    (world.layout / "releases" / "20250601T000000Z").mkdir()  # a directory without its marker
    (world.layout / "shared").mkdir()
    (world.layout / "current").symlink_to(f"releases/{OLD_RELEASE}")
    (world.tmp / "artifacts").mkdir()
    for name, make in BAD_ARTIFACTS.items():
        world.bad(name).write_bytes(make())
    (world.tmp / "locks").mkdir()
    held = {"holder": "alice@ci", "run_id": "run-alice", "release_id": "20251231T000000Z"}
    held["time"] = "2026-01-01T00:00:00Z"
    (world.tmp / "locks" / "held.lock").write_text(json.dumps(held))
    (world.tmp / "plays").mkdir()
    (world.tmp / "empty-app").mkdir()
    dead = {"ansible_host": "127.0.0.1", "ansible_port": _free_port(), "ansible_user": "nobody"}
    (world.tmp / "deadhost.yml").write_text(yaml.safe_dump({"all": {"hosts": {"unreachable": dead}}}))
    (world.tmp / "static.yml").write_text(yaml.safe_dump({"all": {"hosts": {"h1": dead}}}))
    for case in CASES:
        if case.kind == "inventory":
            (world.tmp / f"{case.id}.fleet.yml").write_text(case.spec["text"])


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, ansible_env, moto_url):
    """Run every case (a few at a time); returns ``(outcomes by id, world, states before and after)``."""
    tmp = tmp_path_factory.mktemp("corpus")
    env = {k: v for k, v in ansible_env.items() if not k.startswith(("AWS_", "FLASKFLEET_"))}
    env.update(
        ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
        AWS_ACCESS_KEY_ID="testing-key-id",
        AWS_SECRET_ACCESS_KEY="testing-secret-key",
        AWS_EC2_METADATA_DISABLED="true",
        FLASKFLEET_ARTIFACT_DIR=str(tmp / "built"),
        FLASKFLEET_STATE_DIR=str(tmp / "state"),
    )
    world = World(tmp, env, moto_url)
    _prepare(world)
    before = {"tree": tree_state(world.tmp), "containers": corpus_containers(), "moto": moto_instances(moto_url)}
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        outcomes = dict(zip([c.id for c in CASES], pool.map(lambda c: RUNNERS[c.kind](c, world), CASES), strict=True))
    after = {"tree": tree_state(world.tmp), "containers": corpus_containers(), "moto": moto_instances(moto_url)}
    yield outcomes, world, before, after
    for container in corpus_containers():  # only if a case wrongly created one
        subprocess.run(["docker", "rm", "-f", container], capture_output=True, check=False)


def _changed_paths(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """Paths that appeared, vanished or changed; the corpus' own play files do not count."""
    keys = set(before) | set(after)
    return sorted(k for k in keys if before.get(k) != after.get(k) and not k.startswith("plays/"))


def test_corpus_is_big_enough(figure):
    kinds = {kind: sum(c.kind == kind for c in CASES) for kind in RUNNERS}
    figure(f"bad-input corpus: {len(CASES)} cases {kinds}")
    assert len(CASES) >= 40
    assert len({c.id for c in CASES}) == len(CASES)
    assert all(kinds.values())


@pytest.mark.parametrize(
    "case",
    [pytest.param(c, id=c.id, marks=[pytest.mark.xfail(strict=True, reason=c.xfail)] * bool(c.xfail)) for c in CASES],
)
def test_bad_input(case: Case, corpus):
    outcomes, world, before, after = corpus
    outcome = outcomes[case.id]
    shown = f"exit {outcome.rc}\nSTDOUT:\n{outcome.stdout[-3000:]}\nSTDERR:\n{outcome.stderr[-3000:]}"
    assert TRACEBACK not in outcome.stdout + outcome.stderr, shown
    assert outcome.rc == case.rc, shown
    for fragment in case.fragments:
        assert _fill(fragment, world) in outcome.message, shown
    message = outcome.message.strip()
    if case.kind in ("module", "role"):
        # Argument-spec errors of roles start with Ansible's own "Validation of arguments failed:" line.
        message = message.removeprefix("Validation of arguments failed:\n")
    if case.kind != "inventory":
        assert "\n" not in message, f"message is not one line: {message!r}"
    assert _changed_paths(before["tree"], after["tree"]) == [], "a case changed files"
    assert after["containers"] == before["containers"] == [], "a case created a container"
    assert after["moto"] == before["moto"] == [], "a case launched an EC2 instance"
