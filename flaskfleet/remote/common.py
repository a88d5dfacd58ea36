"""Helpers every host program starts with (this file's text is prepended to the program's)."""

import errno
import hashlib
import os
import sys

#: Temp files are named ``.<target name>.ff-tmp-<token>`` beside their target.
MARK = ".ff-tmp-"


def sha(path):
    """sha256 hex digest of the file at ``path``, streamed."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def reason(exc, doing, path):
    """One line saying why ``doing`` ``path`` failed with the OSError ``exc``."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return "disk full on the host: no space left %s %s" % (doing, path)
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return "permission denied %s %s (%s)" % (doing, path, exc.strerror)
    return "error %s %s: %s" % (doing, path, exc.strerror)


def fail(message):
    """Print ``message`` on stderr and end the program with status 1 at once."""
    sys.stderr.write(message + "\n")
    sys.stderr.flush()
    os._exit(1)
