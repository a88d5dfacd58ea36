"""put, one process per host: observe what is there, then receive, verify and rename.

Line 1 on stdin, the observe request: ``{"root", "dirs", "names"}``. The program creates the
directories and answers with one JSON line: ``{"files": {name: [sha256, mode]}, "dirs": {dir: mode}}``.
Line 2, the manifest of what to change (missing: stdin just ends): ``{"root", "token", "files":
[{"target", "size", "sha256", "mode", "tmp"?}], "chmods": [[target, mode]], "dirs": [[dir, mode]]}``.
The bytes of the files without a ``tmp`` name (uploaded beforehand with scp/SFTP) follow back to
back. Each is written to its temp name and hashed as it is written; only when every sha256 matches
are modes set and all temps renamed. Any failure removes the temps and replaces nothing.
"""

import contextlib
import hashlib
import json
import os
import stat
import sys

# NOTE: on the host, common.py is prepended to this file and this import fails; it serves linters and tests.
with contextlib.suppress(ImportError):
    from flaskfleet.remote.common import MARK, fail, reason, sha


class Mismatch(Exception):
    """A received file's sha256 is not the manifest's."""


def observe(req):
    """Create the directories; describe the named files (sha256 + mode) and the directories' modes."""
    root = req["root"]
    for d in [root] + [os.path.join(root, d) for d in req["dirs"]]:
        try:
            os.makedirs(d, exist_ok=True)
        except OSError as exc:
            fail(reason(exc, "creating directory", d))
    files, dirs = {}, {}
    for name in req["names"]:
        path = os.path.join(root, name)
        try:
            info = os.stat(path)
            if stat.S_ISREG(info.st_mode):
                files[name] = [sha(path), stat.S_IMODE(info.st_mode)]
        except OSError:
            pass  # missing or unreadable: it is sent again
    for d in req["dirs"]:
        dirs[d] = stat.S_IMODE(os.stat(os.path.join(root, d)).st_mode)
    return {"files": files, "dirs": dirs}


def receive(src, tmp, entry):
    """Write exactly ``entry["size"]`` bytes from ``src`` to the new file ``tmp``; their sha256."""
    digest, left = hashlib.sha256(), entry["size"]
    try:
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as out:
            while left > 0:
                block = src.read(min(left, 1 << 20))
                if not block:
                    raise EOFError
                out.write(block)
                digest.update(block)
                left -= len(block)
            os.fchmod(out.fileno(), entry["mode"])
    except OSError as exc:
        exc.filename = entry["target"]
        raise
    return digest.hexdigest()


def clear_stale(renamed):
    """Remove temp files an interrupted earlier put left beside the targets just replaced."""
    by_dir = {}
    for target in renamed:
        head, tail = os.path.split(target)
        by_dir.setdefault(head, set()).add(tail)
    for head, tails in by_dir.items():
        for name in os.listdir(head or "."):
            cut = name.rfind(MARK)
            if name.startswith(".") and cut > 1 and name[1:cut] in tails:
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(head, name))


def temp_path(man, entry):
    """Where a streamed file is written before its rename: beside its target, hidden."""
    head, tail = os.path.split(entry["target"])
    return os.path.join(head, "." + tail + MARK + man["token"])


def apply(man, src):
    """Receive, verify, then rename everything in the manifest ``man`` (or nothing at all)."""
    temps, done = [], 0
    try:
        for entry in man["files"]:
            if "tmp" in entry:
                temps.append((entry["tmp"], entry, None))
                continue
            tmp = temp_path(man, entry)
            temps.append((tmp, entry, None))
            temps[-1] = (tmp, entry, receive(src, tmp, entry))
        for tmp, entry, digest in temps:
            if (digest or sha(tmp)) != entry["sha256"]:
                raise Mismatch(entry["target"])
        for tmp, entry, digest in temps:
            if digest is None:
                os.chmod(tmp, entry["mode"])
            try:
                os.rename(tmp, entry["target"])
            except OSError as exc:
                exc.filename = entry["target"]
                raise
            done += 1
    finally:
        for tmp, _, _ in temps[done:]:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    clear_stale([entry["target"] for _, entry, _ in temps])
    for target, mode in man["chmods"]:
        os.chmod(target, mode)
    for d, mode in sorted(man["dirs"], key=lambda item: -item[0].count("/")):
        os.chmod(d, mode)


def main():
    """Observe (line 1), answer, then apply the manifest (line 2) when there is one."""
    src = sys.stdin.buffer
    req = json.loads(src.readline().decode("utf-8"))
    root = req["root"]
    sys.stdout.write(json.dumps(observe(req)) + "\n")
    sys.stdout.flush()
    line = src.readline()
    if not line.strip():
        return
    try:
        os.chdir(root)
        apply(json.loads(line.decode("utf-8")), src)
    except Mismatch as exc:
        fail("checksum mismatch after upload: %s; nothing was replaced" % os.path.join(root, str(exc)))
    except EOFError:
        fail("transfer cut off before all data arrived; nothing was replaced")
    except OSError as exc:
        fail(reason(exc, "writing", os.path.join(root, exc.filename or "")))


if __name__ == "__main__":
    main()
