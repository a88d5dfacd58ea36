# -*- coding: utf-8 -*-
# Copyright: flaskfleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Artifact verification and unpacking: safe paths, the manifest, every file's sha256.

An artifact is the ``.tar.gz`` built by ``flaskfleet.artifact``; nothing is unpacked before the
whole archive is checked, and unpacking hashes each file again while writing it.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import hashlib
import json
import os
import posixpath
import tarfile

from ansible_collections.flaskfleet.cloud.plugins.module_utils._release_layout import MANIFEST_NAME, ReleaseError

_REQUIRED_MANIFEST_KEYS = ("app", "release_id", "requirement", "wsgi", "files")


def _member_name(member):
    """Archive member name without a leading ``./``."""
    name = member.name
    while name.startswith("./"):
        name = name[2:]
    return name.rstrip("/")


def _check_member(artifact, member):
    """Refuse anything that could write outside the release or is not a plain file/dir.

    :returns: the member's normalised name.
    """
    name = _member_name(member)
    if not name or name.startswith("/") or posixpath.isabs(member.name):
        raise ReleaseError("artifact %s: unsafe absolute path %r" % (artifact, member.name))
    if ".." in name.split("/"):
        raise ReleaseError("artifact %s: unsafe path %r leaves the release directory" % (artifact, member.name))
    if member.issym() or member.islnk():
        target = posixpath.normpath(posixpath.join(posixpath.dirname(name), member.linkname))
        if posixpath.isabs(member.linkname) or target == ".." or target.startswith("../"):
            raise ReleaseError(
                "artifact %s: link %r points outside the release (%s)" % (artifact, name, member.linkname)
            )
        raise ReleaseError("artifact %s: link %r is not allowed: artifacts hold regular files only" % (artifact, name))
    if not (member.isfile() or member.isdir()):
        raise ReleaseError("artifact %s: %r is not a regular file or directory" % (artifact, name))
    return name


def hash_stream(fh, out=None):
    """sha256 of a file object, optionally copying it to ``out`` on the way."""
    digest = hashlib.sha256()
    for chunk in iter(lambda: fh.read(1 << 20), b""):
        digest.update(chunk)
        if out is not None:
            out.write(chunk)
    return digest.hexdigest()


def _load_manifest(artifact, tar, members):
    """Parse and sanity-check ``manifest.json`` of an open archive."""
    if MANIFEST_NAME not in members:
        raise ReleaseError("artifact %s has no %s: build it with flaskfleet.artifact" % (artifact, MANIFEST_NAME))
    raw = tar.extractfile(members[MANIFEST_NAME]).read()
    try:
        manifest = json.loads(raw.decode("utf-8"))
    except ValueError as exc:
        raise ReleaseError("artifact %s: %s is not valid JSON (%s)" % (artifact, MANIFEST_NAME, exc)) from exc
    missing = [k for k in _REQUIRED_MANIFEST_KEYS if not manifest.get(k)] if isinstance(manifest, dict) else ["all"]
    if missing or not isinstance(manifest["files"], dict):
        raise ReleaseError("artifact %s: manifest lacks %s" % (artifact, ", ".join(missing) or "a files mapping"))
    return manifest, hashlib.sha256(raw).hexdigest()


def _open_artifact(artifact):
    """Open a ``.tar.gz`` and index its members by name, refusing unsafe or duplicate ones."""
    if not os.path.isfile(artifact):
        raise ReleaseError("artifact %s not found on this host: upload it first" % artifact)
    try:
        tar = tarfile.open(artifact, "r:gz")  # noqa: SIM115 - the caller closes it (returned open)
        members = {}
        for member in tar.getmembers():
            name = _check_member(artifact, member)
            if name in members:
                raise ReleaseError("artifact %s: %r appears twice in the archive" % (artifact, name))
            members[name] = member
    except (tarfile.TarError, EOFError, OSError, ValueError) as exc:
        raise ReleaseError("artifact %s is not a readable .tar.gz (%s)" % (artifact, exc)) from exc
    return tar, members


def _compare_files(artifact, manifest, members):
    """Every listed file present, nothing unlisted: one line naming the first offender."""
    files = set(n for n, m in members.items() if m.isfile() and n != MANIFEST_NAME)
    listed = set(manifest["files"])
    for name in sorted(listed):
        if posixpath.isabs(name) or ".." in name.split("/"):
            raise ReleaseError("artifact %s: manifest lists unsafe path %r" % (artifact, name))
    if listed - files:
        raise ReleaseError(
            "artifact %s: file listed in the manifest is missing: %s" % (artifact, sorted(listed - files)[0])
        )
    if files - listed:
        raise ReleaseError("artifact %s: file not listed in the manifest: %s" % (artifact, sorted(files - listed)[0]))


def _mismatch(artifact, name, expected, actual):
    """The error for a file whose content does not match the manifest."""
    return ReleaseError(
        "artifact %s: checksum mismatch for %s (manifest %s..., archive %s...): the artifact was changed or"
        " corrupted, upload it again" % (artifact, name, expected[:12], actual[:12])
    )


def verify_artifact(artifact, app=None, release_id=None):
    """Check an artifact completely without unpacking it.

    Safe paths only, manifest present and naming this app and release, the exact set of files it
    lists, and the sha256 of each.

    :returns: ``(manifest, manifest_sha256)``.
    """
    tar, members = _open_artifact(artifact)
    with tar:
        manifest, digest = _load_manifest(artifact, tar, members)
        if app and manifest["app"] != app:
            raise ReleaseError("artifact %s is for app %r, not %r" % (artifact, manifest["app"], app))
        if release_id and manifest["release_id"] != release_id:
            raise ReleaseError("artifact %s is release %r, not %r" % (artifact, manifest["release_id"], release_id))
        _compare_files(artifact, manifest, members)
        for name in sorted(manifest["files"]):
            try:
                actual = hash_stream(tar.extractfile(members[name]))
            except (tarfile.TarError, EOFError, OSError, ValueError) as exc:
                raise ReleaseError("artifact %s is truncated or corrupt at %s (%s)" % (artifact, name, exc)) from exc
            if actual != manifest["files"][name]:
                raise _mismatch(artifact, name, manifest["files"][name], actual)
    return manifest, digest


def manifest_digest(artifact):
    """sha256 of an artifact's manifest (identifies its content cheaply), or ``None`` if unreadable."""
    try:
        with tarfile.open(artifact, "r:gz") as tar:
            return hashlib.sha256(tar.extractfile(MANIFEST_NAME).read()).hexdigest()
    except (tarfile.TarError, EOFError, OSError, KeyError, ValueError, AttributeError):
        return None


def unpack_artifact(artifact, manifest, dest):
    """Extract a verified artifact into ``dest``, hashing again while writing (the file may change)."""
    tar, members = _open_artifact(artifact)
    with tar:
        for name in sorted(members):
            member, target = members[name], os.path.join(dest, *name.split("/"))
            if member.isdir():
                if not os.path.isdir(target):
                    os.makedirs(target, 0o755)
                continue
            parent = os.path.dirname(target)
            if not os.path.isdir(parent):
                os.makedirs(parent, 0o755)
            mode = 0o755 if member.mode & 0o100 else 0o644
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), mode)
            with os.fdopen(fd, "wb") as out:
                actual = hash_stream(tar.extractfile(member), out)
            expected = manifest["files"].get(name) if name != MANIFEST_NAME else actual
            if actual != expected:
                raise _mismatch(artifact, name, expected, actual)
