# -*- coding: utf-8 -*-
# Copyright: flaskfleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The on-host release layout contract and its operations (private to flaskfleet.cloud).

Layout under ``<base_dir>/<app>/`` (docs/architecture.md, "Release layout on a host")::

    releases/<release_id>/          unpacked artifact + venv/ + links to shared paths
    releases/<release_id>/.flaskfleet-release.json   completion marker, written last
    releases/.<release_id>.partial  a release being staged (never a valid target)
    shared/                         persistent data, owned by the app user
    artifacts/<release_id>.tar.gz   uploaded artifacts
    current -> releases/<release_id>   swapped by rename (atomic)
    .deploy.lock                    the deploy lock (JSON)

A release is *complete* when ``releases/<id>`` exists and holds the marker. Staging builds in
``.<id>.partial`` and renames it into place only after the marker is written, so nothing ever
sees a half-built release under its real name. Pure standard library: this runs on the host.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import datetime
import errno
import grp
import hashlib
import http.client
import json
import os
import posixpath
import pwd
import shutil
import socket
import subprocess
import sys
import tarfile
import time

from ansible_collections.flaskfleet.cloud.plugins.module_utils import _contract as contract

MARKER_NAME = ".flaskfleet-release.json"
MANIFEST_NAME = "manifest.json"
RELEASE_ID_RE = contract.RELEASE_ID_RE
_REQUIRED_MANIFEST_KEYS = ("app", "release_id", "requirement", "wsgi", "files")
_PIP_TIMEOUT = 900


class ReleaseError(Exception):
    """A failure the user can act on; the message is one line and says what to fix."""


class LockHeld(ReleaseError):
    """The deploy lock belongs to another run."""

    def __init__(self, msg, lock):
        super(LockHeld, self).__init__(msg)
        self.lock = lock


def utc_now():
    """The current UTC time as ``YYYY-MM-DDTHH:MM:SSZ``."""
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def validate_release_id(release_id):
    """Return ``release_id`` when it has the contract's shape, else raise :class:`ReleaseError`."""
    problem = contract.release_id_problem(release_id)
    if problem:
        raise ReleaseError(problem)
    return release_id


def _fsync_dir(path):
    """Flush a directory entry change (rename, new file) to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_json(path, data, mode=0o644):
    """Write JSON to ``path`` and flush it to disk before returning."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=2, sort_keys=True)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())


# --------------------------------------------------------------------------- layout


class Layout:
    """Paths and read-only facts of one app's release layout on this host."""

    def __init__(self, base_dir, app):
        problem = contract.app_name_problem(app)
        if problem:
            raise ReleaseError(problem)
        self.app = app
        self.names = contract.names(app, os.path.abspath(base_dir))
        self.root = self.names["root"]
        self.releases_dir = self.names["releases"]
        self.shared_dir = self.names["shared"]
        self.artifacts_dir = self.names["artifacts"]
        self.current_link = self.names["current"]
        self.lock_path = self.names["lock"]

    def release_path(self, release_id):
        """``releases/<id>``."""
        return os.path.join(self.releases_dir, release_id)

    def partial_path(self, release_id):
        """``releases/.<id>.partial``, where a release is built."""
        return os.path.join(self.releases_dir, ".%s.partial" % release_id)

    def artifact_path(self, release_id):
        """``artifacts/<id>.tar.gz``."""
        return os.path.join(self.artifacts_dir, "%s.tar.gz" % release_id)

    def marker_path(self, release_id):
        """The completion marker of a release."""
        return os.path.join(self.release_path(release_id), MARKER_NAME)

    def is_complete(self, release_id):
        """True when the release dir is a real directory holding its marker."""
        path = self.release_path(release_id)
        return os.path.isdir(path) and not os.path.islink(path) and os.path.isfile(self.marker_path(release_id))

    def read_marker(self, release_id):
        """The marker of a complete release (``{}`` when unreadable)."""
        try:
            with open(self.marker_path(release_id)) as fh:
                return json.load(fh)
        except (OSError, ValueError):
            return {}

    def releases(self):
        """Complete release ids, oldest first (ids sort by time)."""
        try:
            names = os.listdir(self.releases_dir)
        except OSError:
            return []
        return sorted(n for n in names if RELEASE_ID_RE.match(n) and self.is_complete(n))

    def leftovers(self):
        """Names of half-built or half-removed release dirs (``.<id>.partial``, ``.<id>.removing``)."""
        try:
            names = os.listdir(self.releases_dir)
        except OSError:
            return []
        return sorted(n for n in names if n.startswith(".") and n.endswith((".partial", ".removing")))

    def current(self):
        """Id of the release ``current`` points at, or ``None`` before the first activation."""
        if not os.path.islink(self.current_link):
            if os.path.exists(self.current_link):
                raise ReleaseError("%s is not a symlink: move it away so releases can be switched" % self.current_link)
            return None
        target = os.readlink(self.current_link)
        return posixpath.basename(posixpath.normpath(target)) or None

    def previous(self, current=None):
        """Newest complete release older than ``current`` (the default rollback target), or ``None``."""
        current = self.current() if current is None else current
        older = [r for r in self.releases() if current is not None and r < current]
        return older[-1] if older else None

    def status(self):
        """``current``, ``previous`` and ``releases``: what every module result reports."""
        current = self.current()
        return {"current": current, "previous": self.previous(current), "releases": self.releases()}


# --------------------------------------------------------------------------- ownership


def resolve_owner(owner=None, group=None):
    """``(uid, gid)`` for owner/group names; ``None`` for what is not given.

    Without ``group`` the owner's primary group is used.
    """
    uid = gid = None
    if owner:
        try:
            entry = pwd.getpwnam(owner)
        except KeyError:
            raise ReleaseError("owner %r does not exist on this host: create the user first" % owner) from None
        uid, gid = entry.pw_uid, entry.pw_gid
    if group:
        try:
            gid = grp.getgrnam(group).gr_gid
        except KeyError:
            raise ReleaseError("group %r does not exist on this host: create the group first" % group) from None
    return uid, gid


def _chown(path, uid, gid):
    """``lchown`` that turns a permission error into an actionable message."""
    if uid is None and gid is None:
        return
    try:
        os.lchown(path, -1 if uid is None else uid, -1 if gid is None else gid)
    except PermissionError:
        raise ReleaseError("cannot change the owner of %s: permission denied (run with become: true)" % path) from None


def ensure_dir(path, mode, uid=None, gid=None):
    """Create ``path`` (and parents) if missing with ``mode`` and owner; existing dirs are left alone.

    :returns: True when the directory was created.
    """
    if os.path.isdir(path):
        return False
    if os.path.lexists(path):
        raise ReleaseError("%s exists but is not a directory" % path)
    os.makedirs(path)
    os.chmod(path, mode)
    _chown(path, uid, gid)
    return True


def _chown_tree(top, uid, gid):
    """Give a whole release tree to ``uid:gid`` (symlinks themselves, never their targets)."""
    if uid is None and gid is None:
        return
    _chown(top, uid, gid)
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames + filenames:
            _chown(os.path.join(dirpath, name), uid, gid)


# --------------------------------------------------------------------------- artifact verification


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


def _hash_stream(fh, out=None):
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
                actual = _hash_stream(tar.extractfile(members[name]))
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
                actual = _hash_stream(tar.extractfile(member), out)
            expected = manifest["files"].get(name) if name != MANIFEST_NAME else actual
            if actual != expected:
                raise _mismatch(artifact, name, expected, actual)


# --------------------------------------------------------------------------- venv


def _clean_env():
    """Environment for pip on the host: no user/site pip config can re-enable an index."""
    env = dict((k, v) for k, v in os.environ.items() if not k.startswith("PIP_"))
    for key in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP"):
        env.pop(key, None)
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PIP_NO_INPUT"] = "1"
    return env


def _run(cmd, what):
    """Run a command; on failure raise with its most telling output line."""
    try:
        proc = subprocess.run(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_clean_env(), timeout=_PIP_TIMEOUT,
            universal_newlines=True, check=False,
        )  # fmt: skip
    except OSError as exc:
        raise ReleaseError("%s failed: cannot run %s (%s)" % (what, cmd[0], exc.strerror)) from exc
    except subprocess.TimeoutExpired as exc:
        raise ReleaseError("%s did not finish within %d s" % (what, _PIP_TIMEOUT)) from exc
    if proc.returncode != 0:
        output = proc.stderr + proc.stdout
        if "No space left on device" in output:
            raise OSError(errno.ENOSPC, "No space left on device")
        lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
        errors = [ln for ln in lines if ln.startswith(("ERROR", "Error", "error"))]
        raise ReleaseError("%s failed: %s" % (what, (errors or lines or ["exit status %d" % proc.returncode])[0]))
    return proc.stdout


def _has_binary_wheels(wheels_dir):
    """True when the wheelhouse holds wheels built for one Python version (``cp311`` ...)."""
    return any("-none-any" not in n for n in os.listdir(wheels_dir) if n.endswith(".whl"))


def check_python(python, manifest, wheels_dir):
    """Refuse early when compiled wheels were built for another Python than the host's."""
    version = _run([python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"], "%s" % python).strip()
    wanted = manifest.get("python")
    if wanted and version != wanted and os.path.isdir(wheels_dir) and _has_binary_wheels(wheels_dir):
        raise ReleaseError(
            "artifact was built with Python %s but %s on this host is Python %s: build the artifact with"
            " Python %s" % (wanted, python, version, version)
        )


def _relocate_venv(venv, built_at, final):
    """Point scripts and activate files of a venv built under ``built_at`` to ``final``.

    Shebangs and ``VIRTUAL_ENV`` hold absolute paths; the venv is built in the ``.partial`` dir
    and renamed, so they are rewritten to the final location first.
    """
    old, new = built_at.encode(), final.encode()
    bindir = os.path.join(venv, "bin")
    candidates = [os.path.join(bindir, n) for n in os.listdir(bindir)] + [os.path.join(venv, "pyvenv.cfg")]
    for path in candidates:
        if os.path.islink(path) or not os.path.isfile(path):
            continue
        with open(path, "rb") as fh:
            data = fh.read()
        if old in data:
            with open(path, "wb") as fh:
                fh.write(data.replace(old, new))


_PIP_WHEEL_PROBE = """
import glob, os
try:
    import ensurepip
    found = sorted(glob.glob(os.path.join(os.path.dirname(ensurepip.__file__), "_bundled", "pip-*.whl")))
except ImportError:
    found = []
found += sorted(glob.glob("/usr/share/python-wheels/pip-*.whl"))
print(found[-1] if found else "")
"""


def _bundled_pip(python):
    """The pip wheel that ships with ``python`` (ensurepip's, or Debian's python3-pip-whl), or ``None``.

    Running pip straight from that wheel avoids installing pip into every release's venv: about
    8 s less per stage, and the app's venv carries no installer.
    """
    wheel = _run([python, "-c", _PIP_WHEEL_PROBE], "looking for the pip wheel of %s" % python).strip()
    return wheel or None


def _make_venv(python, venv):
    """Create the venv; returns the command prefix that runs pip for it."""
    what = "creating the venv with %s -m venv (is python3-venv installed?)" % python
    venv_python = os.path.join(venv, "bin", "python")
    wheel = _bundled_pip(python)
    if wheel:
        _run([python, "-m", "venv", "--without-pip", venv], what)
        return [venv_python, os.path.join(wheel, "pip")]
    _run([python, "-m", "venv", venv], what)
    return [venv_python, "-m", "pip"]


def build_venv(python, build_dir, final_dir, manifest):
    """Create ``venv/`` and install the app from the artifact's wheelhouse, offline.

    ``pip install --no-index --find-links wheels/`` never touches the network; byte code is
    compiled afterwards with the final path so tracebacks name real files.
    """
    venv, wheels = os.path.join(build_dir, "venv"), os.path.join(build_dir, "wheels")
    check_python(python, manifest, wheels)
    pip = [*_make_venv(python, venv), "install", "--no-index", "--find-links", wheels]
    # NOTE: extra_requirements is the WSGI server the builder added when the app does not depend on it.
    wanted = [manifest["requirement"], *(manifest.get("extra_requirements") or [])]
    _run([*pip, "--no-compile", "--no-cache-dir", *wanted], "pip install %s" % " ".join(wanted))
    _relocate_venv(venv, build_dir, final_dir)
    compile_cmd = [os.path.join(venv, "bin", "python"), "-m", "compileall", "-q", "-f", "-j", "0"]
    _run([*compile_cmd, "-s", build_dir, "-p", final_dir, os.path.join(venv, "lib")], "compiling the venv")


# --------------------------------------------------------------------------- staging


def _safe_relative(path, what):
    """A relative path that stays inside its directory (for shared_paths)."""
    norm = posixpath.normpath(path or "")
    if not path or posixpath.isabs(path) or norm == "." or norm == ".." or norm.startswith("../"):
        raise ReleaseError("invalid %s %r: use a relative path inside the release, e.g. data or var/log" % (what, path))
    return norm


def link_shared(layout, build_dir, shared_paths, uid, gid):
    """Create ``shared/<p>`` (owned by the app user) and link ``<release>/<p>`` to it, relatively."""
    for raw in shared_paths:
        rel = _safe_relative(raw, "shared path")
        shared = os.path.join(layout.shared_dir, rel)
        ensure_dir(shared, 0o750, uid, gid)
        link = os.path.join(build_dir, rel)
        if os.path.lexists(link):
            raise ReleaseError(
                "shared path %r also exists in the artifact: remove it from the app or from shared_paths" % rel
            )
        if not os.path.isdir(os.path.dirname(link)):
            os.makedirs(os.path.dirname(link), 0o755)
        # NOTE: relative from the release's final location; same depth as .partial, so the rename keeps it valid.
        final_link_dir = os.path.dirname(os.path.join(layout.release_path("x"), rel))
        os.symlink(os.path.relpath(shared, final_link_dir), link)


def remove_tree(layout, name):
    """Remove ``releases/<name>``: renamed to ``.<name>.removing`` first so it stops counting at once."""
    path = os.path.join(layout.releases_dir, name)
    if not os.path.lexists(path):
        return False
    doomed = path
    if not name.startswith("."):
        doomed = os.path.join(layout.releases_dir, ".%s.removing" % name)
        if os.path.lexists(doomed):
            shutil.rmtree(doomed, ignore_errors=True)
        os.rename(path, doomed)
    if os.path.islink(doomed) or not os.path.isdir(doomed):
        os.unlink(doomed)
    else:
        shutil.rmtree(doomed)
    return True


def _disk_full(layout, release_id):
    """The one-line message for ENOSPC while staging."""
    try:
        stat = os.statvfs(layout.releases_dir)
        free = " (%d MB free)" % (stat.f_bavail * stat.f_frsize // (1024 * 1024))
    except OSError:
        free = ""
    return "no space left on device while staging release %s in %s%s: free space (prune old releases) and retry" % (
        release_id,
        layout.releases_dir,
        free,
    )


def _already_staged(layout, release_id, artifact):
    """True when the release is complete; refuses a different artifact under the same id."""
    if not layout.is_complete(release_id):
        return False
    wanted = layout.read_marker(release_id).get("manifest_sha256")
    offered = manifest_digest(artifact) if artifact and os.path.isfile(artifact) else None
    if offered and wanted and offered != wanted:
        raise ReleaseError(
            "release %s is already staged from a different artifact (manifest sha256 %s... != %s...): deploy the"
            " new build under a new release id" % (release_id, wanted[:12], offered[:12])
        )
    return True


def prepare_layout(layout, owner_ids):
    """Create the layout's directories when missing: code dirs for root, shared/ for the app user."""
    uid, gid = owner_ids
    for path in (layout.root, layout.releases_dir):
        ensure_dir(path, 0o755, None, gid)
    ensure_dir(layout.artifacts_dir, 0o750, None, gid)
    ensure_dir(layout.shared_dir, 0o750, uid, gid)


def _build_release(layout, release_id, artifact, manifest, digest, options):
    """Unpack, build the venv, link shared paths, write the marker, rename into place."""
    build_dir, final = layout.partial_path(release_id), layout.release_path(release_id)
    uid, gid = options["owner_ids"]
    os.mkdir(build_dir, 0o755)
    unpack_artifact(artifact, manifest, build_dir)
    build_venv(options.get("python") or sys.executable, build_dir, final, manifest)
    link_shared(layout, build_dir, options.get("shared_paths") or [], uid, gid)
    # NOTE: code belongs to the deploying user (root) and the app's group: readable, not writable, by the app.
    _chown_tree(build_dir, None, gid)
    marker = dict(
        (k, manifest.get(k)) for k in ("app", "version", "release_id", "wsgi", "requirement", "static", "python")
    )
    marker.update(manifest_sha256=digest, completed=utc_now(), venv=os.path.join(final, "venv"))
    _write_json(os.path.join(build_dir, MARKER_NAME), marker)
    _chown(os.path.join(build_dir, MARKER_NAME), None, gid)
    os.rename(build_dir, final)
    _fsync_dir(layout.releases_dir)


def stage(layout, release_id, artifact=None, check_mode=False, **options):
    """Ensure ``releases/<release_id>`` is a complete release built from ``artifact``.

    :param options: ``python``, ``shared_paths``, ``owner_ids`` (``(uid, gid)``).
    :returns: True when something changed.
    """
    validate_release_id(release_id)
    options.setdefault("owner_ids", (None, None))
    if _already_staged(layout, release_id, artifact):
        return False
    if not artifact:
        raise ReleaseError("release %s is not staged on this host yet: give artifact to stage it" % release_id)
    manifest, digest = verify_artifact(artifact, layout.app, release_id)
    if check_mode:
        return True
    if os.path.lexists(layout.release_path(release_id)):
        if layout.current() == release_id:
            raise ReleaseError(
                "release %s is current but incomplete (no %s): repair it by hand" % (release_id, MARKER_NAME)
            )
        remove_tree(layout, release_id)
    old_umask = os.umask(0o022)
    try:
        prepare_layout(layout, options["owner_ids"])
        remove_tree(layout, posixpath.basename(layout.partial_path(release_id)))
        _build_release(layout, release_id, artifact, manifest, digest, options)
    except BaseException as exc:
        shutil.rmtree(layout.partial_path(release_id), ignore_errors=True)
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
            raise ReleaseError(_disk_full(layout, release_id)) from exc
        if isinstance(exc, OSError) and not isinstance(exc, ReleaseError):
            raise ReleaseError("staging release %s failed: %s" % (release_id, exc)) from exc
        raise
    finally:
        os.umask(old_umask)
    return True


# --------------------------------------------------------------------------- switching


def _swap_current(layout, release_id):
    """Point ``current`` at the release: a new symlink under a temp name, renamed over the old one."""
    tmp = os.path.join(layout.root, ".current.%d.tmp" % os.getpid())
    if os.path.lexists(tmp):
        os.unlink(tmp)
    os.symlink(posixpath.join("releases", release_id), tmp)
    os.rename(tmp, layout.current_link)
    _fsync_dir(layout.root)


def activate(layout, release_id, check_mode=False):
    """Make ``release_id`` current; refuses releases that are not complete.

    :returns: True when ``current`` changed (or would, in check mode).
    """
    validate_release_id(release_id)
    if not layout.is_complete(release_id):
        if check_mode and not os.path.lexists(layout.release_path(release_id)):
            # NOTE: in check mode an earlier task's staging was only simulated; report the switch it would make.
            return True
        if os.path.lexists(layout.release_path(release_id)):
            raise ReleaseError("release %s is incomplete (no %s): stage it again" % (release_id, MARKER_NAME))
        known = ", ".join(layout.releases()) or "none"
        raise ReleaseError("release %s is not staged on this host (staged releases: %s)" % (release_id, known))
    if layout.current() == release_id:
        return False
    if not check_mode:
        _swap_current(layout, release_id)
    return True


def rollback_target(layout, release_id=None):
    """The release a rollback goes to: the one named, else the newest complete one older than current."""
    if release_id:
        return validate_release_id(release_id)
    current = layout.current()
    if current is None:
        raise ReleaseError(
            "nothing to roll back: %s does not exist yet (no release was activated)" % layout.current_link
        )
    target = layout.previous(current)
    if target is None:
        raise ReleaseError(
            "no complete release older than %s to roll back to (releases: %s)"
            % (current, ", ".join(layout.releases()) or "none")
        )
    return target


# --------------------------------------------------------------------------- pruning and removal


def prune_plan(layout, keep, protect=()):
    """Release ids to remove: all but the newest ``keep``, never current, its rollback target or ``protect``."""
    if keep < 1:
        raise ReleaseError("keep_releases must be 1 or more, got %d" % keep)
    releases, current = layout.releases(), layout.current()
    kept = set(releases[-keep:]) | set(protect) | set([current, layout.previous(current)])
    return [r for r in releases if r not in kept]


def remove_release(layout, release_id, check_mode=False):
    """Remove a release (its directory, leftovers and uploaded artifact); refuses the current one.

    :returns: True when something was removed (or would be).
    """
    validate_release_id(release_id)
    if layout.current() == release_id:
        raise ReleaseError(
            "release %s is current: activate or roll back to another release before removing it" % release_id
        )
    paths = [layout.release_path(release_id), layout.partial_path(release_id), layout.artifact_path(release_id)]
    if not any(os.path.lexists(p) for p in paths):
        return False
    if not check_mode:
        remove_tree(layout, release_id)
        remove_tree(layout, posixpath.basename(layout.partial_path(release_id)))
        if os.path.lexists(layout.artifact_path(release_id)):
            os.unlink(layout.artifact_path(release_id))
    return True


def prune(layout, keep, protect=(), check_mode=False):
    """Remove old releases and leftovers of crashed runs.

    :returns: ``(pruned release ids, removed leftover dir names)``.
    """
    doomed, leftovers = prune_plan(layout, keep, protect), layout.leftovers()
    if not check_mode:
        for release_id in doomed:
            remove_release(layout, release_id)
        for name in leftovers:
            remove_tree(layout, name)
    return doomed, leftovers


# --------------------------------------------------------------------------- deploy lock


def read_lock(path):
    """The lock's content, ``None`` when free; an unreadable lock is reported, not ignored."""
    try:
        with open(path) as fh:
            data = fh.read()
    except (IOError, OSError) as exc:
        if exc.errno == errno.ENOENT:
            return None
        raise ReleaseError("cannot read deploy lock %s: %s" % (path, exc.strerror)) from exc
    try:
        lock = json.loads(data)
        if not isinstance(lock, dict):
            raise ValueError("not an object")
    except ValueError:
        return {"holder": "unknown (unreadable lock file)", "time": "unknown", "release_id": None, "run_id": None}
    return lock


def lock_held_message(lock):
    """The refusal users see when another run holds the lock."""
    return (
        "deploy lock held by %s since %s for release %s (run %s);"
        " wait for it or re-run with flask_app_force_unlock=true to break it"
        % (lock.get("holder"), lock.get("time"), lock.get("release_id"), lock.get("run_id"))
    )


def _create_lock(path, lock):
    """Create the lock file atomically and complete: written to a temp file, hard-linked into place.

    ``link()`` fails with EEXIST like ``O_EXCL`` but never exposes a half-written file.
    """
    tmp = "%s.%d.tmp" % (path, os.getpid())
    _write_json(tmp, lock)
    try:
        os.link(tmp, path)
        _fsync_dir(os.path.dirname(path))
        return True
    except OSError as exc:
        if exc.errno == errno.EEXIST:
            return False
        raise ReleaseError("cannot create deploy lock %s: %s" % (path, exc.strerror)) from exc
    finally:
        os.unlink(tmp)


def acquire_lock(path, holder, run_id, release_id=None, force=False, check_mode=False, wait=0):
    """Take the deploy lock for ``run_id``, waiting up to ``wait`` seconds for another run to release it.

    :returns: ``(changed, lock, broken)``; ``broken`` is the lock that ``force`` replaced.
    :raises LockHeld: when another run still holds it after ``wait`` seconds and ``force`` is false.
    """
    deadline = time.monotonic() + max(wait or 0, 0)
    while True:
        try:
            return _acquire_once(path, holder, run_id, release_id, force, check_mode)
        except LockHeld as exc:
            left = deadline - time.monotonic()
            if left <= 0:
                if wait:
                    raise LockHeld("%s (waited %d s)" % (exc, wait), exc.lock) from None
                raise
            time.sleep(min(0.5, left))


def _acquire_once(path, holder, run_id, release_id, force, check_mode):
    """One attempt of :func:`acquire_lock`."""
    wanted = {"holder": holder, "run_id": run_id, "release_id": release_id, "time": utc_now(), "pid": os.getpid()}
    current = read_lock(path)
    if current is not None and current.get("run_id") == run_id:
        return False, current, None
    if current is not None and not force:
        raise LockHeld(lock_held_message(current), current)
    if check_mode:
        return True, wanted, current
    # NOTE: exist_ok: runs that start together all find the directory missing.
    os.makedirs(os.path.dirname(path), 0o755, exist_ok=True)
    if current is not None:
        os.unlink(path)
    if not _create_lock(path, wanted):
        # NOTE: another run took it between our read and our link: report that run, not ours.
        raise LockHeld(lock_held_message(read_lock(path) or {}), read_lock(path))
    return True, wanted, current


def release_lock(path, run_id, force=False, check_mode=False):
    """Release the deploy lock if this run holds it (or ``force``).

    :returns: ``(changed, lock)`` where ``lock`` is what was removed.
    """
    current = read_lock(path)
    if current is None:
        return False, None
    if current.get("run_id") != run_id and not force:
        raise LockHeld(
            "deploy lock %s belongs to run %s of %s, not to run %s: not releasing it (use force to remove it anyway)"
            % (path, current.get("run_id"), current.get("holder"), run_id),
            current,
        )
    if not check_mode:
        os.unlink(path)
    return True, current


# --------------------------------------------------------------------------- inspection (no-change fast path)


def _attribute_difference(path, st, spec):
    """Why ``path`` (already ``lstat``-ed) has another mode, owner or group than ``spec`` says."""
    if spec.get("mode") and (st.st_mode & 0o7777) != int(spec["mode"], 8):
        return "%s has mode %04o, not %s" % (path, st.st_mode & 0o7777, spec["mode"])
    uid, gid = resolve_owner(spec.get("owner"), spec.get("group"))
    if (uid is not None and st.st_uid != uid) or (spec.get("group") and st.st_gid != gid):
        return "%s has another owner or group" % path
    return None


def _file_difference(spec):
    """Why the file ``spec`` describes differs on this host (``None`` when it matches).

    :param spec: ``path``, ``sha256`` (of the whole content), and optional ``mode`` (octal
        string), ``owner`` and ``group`` (names).
    """
    path = spec["path"]
    try:
        st = os.lstat(path)
        with open(path, "rb") as fh:
            digest = _hash_stream(fh)
    except (IOError, OSError):
        return "%s is missing or unreadable" % path
    if digest != spec["sha256"]:
        return "%s has other content" % path
    return _attribute_difference(path, st, spec)


def _directory_difference(spec):
    """Why the directory ``spec`` describes (``path``, ``mode``, ``owner``, ``group``) differs."""
    path = spec["path"]
    try:
        st = os.lstat(path)
    except OSError:
        return "%s is missing" % path
    if os.path.islink(path) or not os.path.isdir(path):
        return "%s is not a directory" % path
    return _attribute_difference(path, st, spec)


def _members_missing(group, members):
    """Users of ``members`` that are not in ``group`` (by supplementary or primary group)."""
    entry = grp.getgrnam(group)
    missing = []
    for user in members:
        try:
            primary = pwd.getpwnam(user).pw_gid
        except KeyError:
            missing.append(user)
            continue
        if user not in entry.gr_mem and primary != entry.gr_gid:
            missing.append(user)
    return missing


def _systemctl(*args):
    """Run a read-only systemctl query; ``(rc, stdout)``."""
    try:
        proc = subprocess.run(["systemctl", *args], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return 1, str(exc)
    return proc.returncode, proc.stdout


def unit_difference(unit):
    """Why the release's unit is not running as a switched release should (``None`` when it is).

    A switched release's unit is active, enabled (starts at boot) and its unit file is loaded
    as written (no pending ``daemon-reload``); no other instance of the same template runs.
    """
    rc, out = _systemctl("show", "-p", "ActiveState", "-p", "UnitFileState", "-p", "NeedDaemonReload", unit)
    props = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    if rc != 0 or props.get("ActiveState") != "active":
        return "unit %s is %s" % (unit, props.get("ActiveState") or "unknown")
    if props.get("UnitFileState") != "enabled":
        return "unit %s is not enabled" % unit
    if props.get("NeedDaemonReload") == "yes":
        return "unit %s changed on disk (daemon-reload pending)" % unit
    pattern = "%s@*.service" % unit.split("@", 1)[0]
    rc, out = _systemctl("list-units", "--type=service", "--state=active", "--plain", "--no-legend", pattern)
    others = sorted(line.split()[0] for line in out.splitlines() if line.split() and line.split()[0] != unit)
    if others:
        return "other releases still run: %s" % ", ".join(others)
    return None


class _UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP over a unix socket (gunicorn's), standard library only."""

    def __init__(self, socket_path, timeout):
        http.client.HTTPConnection.__init__(self, "localhost", timeout=timeout)
        self._socket_path = socket_path

    def connect(self):
        """Connect to the socket instead of a TCP address."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._socket_path)
        self.sock = sock


def health_answer(socket_path, path, timeout):
    """One GET of ``path`` through ``socket_path``: ``(HTTP status, None)`` or ``(None, why it failed)``."""
    conn = _UnixHTTPConnection(socket_path, timeout)
    try:
        conn.request("GET", path, headers={"Host": "localhost"})
        return conn.getresponse().status, None
    except (OSError, http.client.HTTPException) as exc:
        return None, "health check through %s failed: %s" % (socket_path, exc)
    finally:
        conn.close()


def health_difference(socket_path, path, status, timeout):
    """Why one GET of ``path`` through ``socket_path`` does not answer ``status`` (``None`` when it does)."""
    got, error = health_answer(socket_path, path, timeout)
    if error:
        return error
    if got != status:
        return "health check through %s answered HTTP %d, not %d" % (socket_path, got, status)
    return None


def unit_state(unit):
    """systemd's ActiveState of ``unit`` (``active``, ``failed``, ``inactive``, ...)."""
    rc, out = _systemctl("show", "-p", "ActiveState", "--value", unit)
    return out.strip() if rc == 0 and out.strip() else "unknown"


def inspect_live(layout, health_path, health_status, timeout):
    """What the host serves right now: the live release, its unit's state and one health answer.

    Read only, for status reports. The unit and the socket are the contract's names for the
    live release, the health path is the caller's (the role's ``flask_app_health_path``).

    :returns: dict ``release_id``, ``unit``, ``unit_state``, ``socket``, ``health_path``,
        ``health`` (HTTP status or ``None``), ``healthy`` and ``reasons`` (empty when healthy).
    """
    current = layout.current()
    result = dict(release_id=current, unit=None, unit_state=None, socket=None, health_path=health_path,
                  health=None, healthy=False, lock=read_lock(layout.lock_path))  # fmt: skip
    if current is None:
        result["reasons"] = ["not deployed: %s does not exist" % layout.current_link]
        return result
    names = contract.names(layout.app, os.path.dirname(layout.root), current)
    result.update(unit=names["unit"], socket=names["socket"], unit_state=unit_state(names["unit"]))
    reasons = [] if result["unit_state"] == "active" else ["unit %s is %s" % (names["unit"], result["unit_state"])]
    result["health"], error = health_answer(names["socket"], health_path, timeout)
    if error:
        reasons.append(error)
    elif result["health"] != health_status:
        reasons.append("%s answered HTTP %s, not %s" % (health_path, result["health"], health_status))
    result.update(reasons=reasons, healthy=not reasons)
    return result


def _identity_difference(checks):
    """Why the app's user, group, group members or directories are not as asked (``None`` when they are)."""
    try:
        resolve_owner(checks.get("owner"), checks.get("group"))
        missing = _members_missing(checks["group"], checks.get("group_members") or []) if checks.get("group") else []
    except ReleaseError as exc:
        return str(exc)
    if missing:
        return "%s not in group %s" % (", ".join(missing), checks["group"])
    return next((r for r in (_directory_difference(d) for d in checks.get("directories") or []) if r), None)


def _release_difference(layout, release_id, wanted_digest):
    """Why the host does not serve ``release_id`` built from the wanted artifact (``None`` when it does)."""
    if os.path.lexists(layout.lock_path):
        return "the deploy lock %s is held" % layout.lock_path
    current = layout.current()
    if current != release_id:
        return "current release is %s" % (current or "none")
    built_from = layout.read_marker(release_id).get("manifest_sha256")
    if not layout.is_complete(release_id) or (wanted_digest and built_from != wanted_digest):
        return "release %s is incomplete or was built from another artifact" % release_id
    return None


def inspect(layout, release_id, checks):
    """Whether the host already runs ``release_id`` exactly as asked; nothing is changed.

    :param checks: ``manifest_sha256``, ``owner``, ``group``, ``group_members``,
        ``directories``, ``files`` (specs for :func:`_directory_difference` and
        :func:`_file_difference`), ``unit`` and ``health`` (dict ``socket``, ``path``,
        ``status``, ``timeout``); each one given is checked.
    :returns: dict ``reasons`` (empty when up to date), ``identity_ok`` (user, group, members
        and directories as asked) and ``files_matching`` (paths of the files that match), so a
        deploy that has to run can still skip the steps whose result is already there.
    """
    validate_release_id(release_id)
    identity = _identity_difference(checks)
    files = [(spec["path"], _file_difference(spec)) for spec in checks.get("files") or []]
    reasons = [r for r in [_release_difference(layout, release_id, checks.get("manifest_sha256")), identity] if r]
    reasons += [reason for path, reason in files if reason]
    # NOTE: the costlier checks (systemctl, a request) only run when the cheap ones passed.
    unit = unit_difference(checks["unit"]) if checks.get("unit") and not reasons else None
    reasons += [unit] if unit else []
    health = checks.get("health")
    if health and not reasons:
        answer = health_difference(health["socket"], health["path"], health["status"], health["timeout"])
        reasons += [answer] if answer else []
    return dict(reasons=reasons, identity_ok=identity is None, files_matching=[p for p, r in files if not r])
