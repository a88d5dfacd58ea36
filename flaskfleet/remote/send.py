"""get, act: the named files' bytes on stdout, each after a ``SIZE\\n`` header.

stdin: ``{"root": dir, "names": [relative names]}``. Exactly SIZE bytes follow each header (a file
that shrank meanwhile is padded with NUL bytes, so the stream stays in step; the controller's
sha256 check then refuses it).
"""

import contextlib
import json
import os
import sys

# NOTE: on the host, common.py is prepended to this file and this import fails; it serves linters and tests.
with contextlib.suppress(ImportError):
    from flaskfleet.remote.common import fail, reason


def send(out, full):
    """Write the header and the bytes of the file ``full`` to ``out``."""
    with open(full, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        out.write(b"%d\n" % size)
        left = size
        while left > 0:
            block = handle.read(min(left, 1 << 20)) or b"\0" * min(left, 1 << 20)
            out.write(block)
            left -= len(block)


def main():
    """Send every named file, or fail with one line at the first that cannot be read."""
    req = json.loads(sys.stdin.read())
    out = sys.stdout.buffer
    for name in req["names"]:
        full = os.path.join(req["root"], name)
        try:
            send(out, full)
        except OSError as exc:
            fail(reason(exc, "reading", full))
    out.flush()


if __name__ == "__main__":
    main()
