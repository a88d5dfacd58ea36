# -*- coding: utf-8 -*-
# Copyright (c) 2025, flaskfleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""known_hosts content that travels as a value (an AWX credential, an environment variable).

A job in a fresh execution environment has no project state directory; the host keys come in as
text. OpenSSH only reads them from a file, so :func:`write_content_file` puts the checked text in
a file named after its digest, in a directory only the current user can write. The same content
always gives the same path (a re-read of the inventory in the same job reuses it). Private to the
collection.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import hashlib
import os
import stat
import tempfile

DIR_PREFIX = "flaskfleet-known-hosts-"


def check_content(content):
    """The known_hosts lines of ``content`` (comments and blanks dropped).

    :raises ValueError: a line that is not ``[@marker] hosts keytype base64key [comment]``.
    """
    lines = []
    for number, raw in enumerate(content.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split()
        if fields[0].startswith("@"):
            fields = fields[1:]
        if len(fields) < 3 or not fields[1].startswith(("ssh-", "ecdsa-", "sk-")):
            raise ValueError(
                "line %d is not a known_hosts entry ('host keytype base64key', for example "
                "'[127.0.0.1]:32768 ssh-ed25519 AAAA...')" % number
            )
        lines.append(line)
    if not lines:
        raise ValueError("it holds no host key; pass the known_hosts lines recorded by provisioning")
    return lines


def _private_dir():
    """``$TMPDIR/flaskfleet-known-hosts-<uid>``, made 0700 and checked to be ours (no one else's files)."""
    path = os.path.join(tempfile.gettempdir(), "%s%d" % (DIR_PREFIX, os.getuid()))
    if not os.path.lexists(path):
        os.mkdir(path, 0o700)
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o022:
        raise ValueError("%s is not a private directory of this user; remove it" % path)
    return path


def write_content_file(content):
    """Write checked known_hosts ``content`` to its digest-named file and return the file's path.

    :raises ValueError: bad content (see :func:`check_content`) or an unsafe directory.
    """
    text = "\n".join(check_content(content)) + "\n"
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]
    path = os.path.join(_private_dir(), "%s.known_hosts" % digest)
    if not os.path.exists(path):
        fd, partial = tempfile.mkstemp(dir=os.path.dirname(path))
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.chmod(partial, 0o644)
        os.rename(partial, path)
    return path
