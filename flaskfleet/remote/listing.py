"""get, observe: what is at a remote path (a file or a tree), with sha256, mode and size.

stdin: the path as a JSON string. stdout: ``{"dir": bool, "files": {name: [sha256, mode, size]}}``
(for a file, one entry under its base name; for a tree, its regular files, like ``find -type f``).
"""

import contextlib
import json
import os
import stat
import sys

# NOTE: on the host, common.py is prepended to this file and this import fails; it serves linters and tests.
with contextlib.suppress(ImportError):
    from flaskfleet.remote.common import fail, reason, sha


def describe(full):
    """``[sha256, mode, size]`` of one file."""
    info = os.stat(full)
    return [sha(full), stat.S_IMODE(info.st_mode), info.st_size]


def walk(path):
    """``{relative name: description}`` of the regular files under ``path``, in sorted order."""
    files = {}
    for current, subdirs, names in os.walk(path):
        subdirs.sort()
        for name in sorted(names):
            full = os.path.join(current, name)
            if os.path.isfile(full) and not os.path.islink(full):
                files[os.path.relpath(full, path)] = describe(full)
    return files


def main():
    """Describe the path read from stdin, or fail with one line."""
    path = json.loads(sys.stdin.read())
    try:
        if os.path.isdir(path):
            answer = {"dir": True, "files": walk(path)}
        elif os.path.isfile(path):
            answer = {"dir": False, "files": {os.path.basename(path): describe(path)}}
        else:
            fail("remote path %s does not exist" % path)
    except OSError as exc:
        fail(reason(exc, "reading", exc.filename or path))
    sys.stdout.write(json.dumps(answer))


if __name__ == "__main__":
    main()
