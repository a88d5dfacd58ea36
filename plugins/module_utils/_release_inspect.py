# -*- coding: utf-8 -*-
# Copyright: flaskfleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read-only inspection of a host: is a release running exactly as asked, and what is live now.

Nothing here writes: ``lstat``, digests, ``systemctl show``/``list-units`` and one HTTP request
through the release's unix socket. Used by the ``release_info`` module.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import grp
import http.client
import os
import pwd
import socket
import subprocess

from ansible_collections.flaskfleet.cloud.plugins.module_utils import _contract as contract
from ansible_collections.flaskfleet.cloud.plugins.module_utils._release_artifact import hash_stream
from ansible_collections.flaskfleet.cloud.plugins.module_utils._release_layout import (
    ReleaseError,
    resolve_owner,
    validate_release_id,
)
from ansible_collections.flaskfleet.cloud.plugins.module_utils._release_lock import read_lock


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
            digest = hash_stream(fh)
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
