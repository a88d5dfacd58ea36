"""Hand-made artifacts and releases for the ``_release_*`` module_utils tests.

Each test needs one specific defect, so these archives are built by hand; the modules' tests stage
real artifacts of examples/hello.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

APP = "hello"
R1, R2, R3, R4 = "20261101T080000Z", "20261102T080000Z", "20261103T080000Z-fix", "20261104T080000Z"


def make_artifact(path: Path, release_id=R1, files=None, manifest=None, extra=()):
    """Write an artifact: ``files`` {name: bytes} listed in the manifest, ``extra`` TarInfo/bytes pairs not."""
    files = (
        {"wheels/hello-0.1.0-py3-none-any.whl": b"wheel", "static/style.css": b"body {}"} if files is None else files
    )
    doc = {
        "format": 1,
        "app": APP,
        "version": "0.1.0",
        "release_id": release_id,
        "wsgi": "hello:create_app()",
        "requirement": "hello==0.1.0",
        "python": "3.11",
        "files": {n: hashlib.sha256(b).hexdigest() for n, b in files.items()},
    }
    doc.update(manifest or {})
    entries = [(tarfile.TarInfo("manifest.json"), json.dumps(doc).encode())]
    entries += [(tarfile.TarInfo(n), b) for n, b in sorted(files.items())] + list(extra)
    with tarfile.open(path, "w:gz") as tar:
        for info, data in entries:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def link(name, target, hard=False):
    """A symlink (or hard link) member."""
    info = tarfile.TarInfo(name)
    info.type = tarfile.LNKTYPE if hard else tarfile.SYMTYPE
    info.linkname = target
    return info, None


def fake_release(layout, release_id):
    """A complete release as the layout sees it: directory plus marker (for switching/pruning logic)."""
    path = Path(layout.release_path(release_id))
    path.mkdir(parents=True)
    (path / ".flaskfleet-release.json").write_text(json.dumps({"release_id": release_id, "app": APP}))
