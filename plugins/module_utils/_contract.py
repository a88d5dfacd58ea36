# -*- coding: utf-8 -*-
# Copyright: flaskfleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The host contract: every name and path a host's app layout is known by, in ONE place.

Read by the modules (through ``releases.py``), by the roles (through the
``flaskfleet.cloud.host_contract`` filter) and by the ``flaskfleet`` pip package (which loads this
very file, see ``flaskfleet/contract.py``). Pure standard library and no imports from Ansible, so
it runs on the hosts, on the controller and inside the pip package alike (docs/architecture.md,
"One host contract").
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import posixpath
import re

#: Root of every app's layout (``<base_dir>/<app>/...``) unless the role or a task says otherwise.
DEFAULT_BASE_DIR = "/srv"
#: Path the health check requests through a release's socket unless configured otherwise.
DEFAULT_HEALTH_PATH = "/healthz"

#: An app name is also a Unix user and group name, a systemd unit prefix, a directory under
#: ``/run`` and an nginx upstream name: Debian's user name rule (a lowercase letter first, at most
#: 32 characters) without the characters systemd or nginx would treat specially.
APP_NAME_RE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
APP_NAME_RULE = "a lowercase letter, then up to 31 lowercase letters, digits, '-' or '_'"

#: ``YYYYMMDDTHHMMSSZ`` optionally followed by ``-<suffix>``; ids sort by time.
RELEASE_ID_RE = re.compile(r"^(?P<stamp>\d{8}T\d{6}Z)(?:-(?P<suffix>[A-Za-z0-9][A-Za-z0-9._]{0,39}))?$")
RELEASE_ID_RULE = "YYYYMMDDTHHMMSSZ or YYYYMMDDTHHMMSSZ-<suffix>, e.g. 20261129T101500Z"

SOCKET_NAME = "gunicorn.sock"


def app_name_problem(name):
    """Why ``name`` cannot be an app name (one line), or ``None`` when it can."""
    if isinstance(name, str) and APP_NAME_RE.match(name):
        return None
    return "invalid app name %r: use %s" % (name, APP_NAME_RULE)


def release_id_problem(release_id):
    """Why ``release_id`` is not a release id (one line), or ``None`` when it is."""
    if isinstance(release_id, str) and RELEASE_ID_RE.match(release_id):
        return None
    return "invalid release id %r: expected %s" % (release_id, RELEASE_ID_RULE)


def app_root(base_dir, app):
    """``<base_dir>/<app>``: the app's layout."""
    return posixpath.join(base_dir or DEFAULT_BASE_DIR, app)


def unit_template(app):
    """The systemd template unit every release of ``app`` is an instance of."""
    return "flaskfleet-%s@.service" % app


def unit_pattern(app):
    """A ``journalctl -u`` / ``systemctl`` pattern matching every release's unit of ``app``."""
    return "flaskfleet-%s@*" % app


def unit_name(app, release_id):
    """The unit of one release."""
    return "flaskfleet-%s@%s.service" % (app, release_id)


def runtime_dir(app, release_id):
    """``/run/<app>/<release_id>``: systemd's RuntimeDirectory of one release."""
    return "/run/%s/%s" % (app, release_id)


def socket_path(app, release_id):
    """The unix socket gunicorn of one release listens on."""
    return posixpath.join(runtime_dir(app, release_id), SOCKET_NAME)


def names(app, base_dir=None, release_id=None):
    """Every name of the contract for ``app`` (and one release when given), as a dict.

    ``%i`` stands for the release id in the unit template's own text (systemd's specifier);
    ``unit_format`` and ``socket_format`` take the release id for their ``%s``.
    """
    root = app_root(base_dir, app)
    data = dict(
        app=app,
        base_dir=base_dir or DEFAULT_BASE_DIR,
        root=root,
        releases=posixpath.join(root, "releases"),
        shared=posixpath.join(root, "shared"),
        artifacts=posixpath.join(root, "artifacts"),
        current=posixpath.join(root, "current"),
        lock=posixpath.join(root, ".deploy.lock"),
        env_file=posixpath.join(root, "shared", ".env"),
        unit_template=unit_template(app),
        unit_pattern=unit_pattern(app),
        runtime_dir_template="%s/%%i" % app,
        unit_format=unit_name(app, "%s"),
        socket_format=socket_path(app, "%s"),
        health_path=DEFAULT_HEALTH_PATH,
    )
    if release_id:
        data.update(unit=unit_name(app, release_id), socket=socket_path(app, release_id),
                    release=posixpath.join(root, "releases", release_id))  # fmt: skip
    return data
