"""Make ``ansible_collections.flaskfleet.cloud`` importable for the plugin unit tests.

``scripts/test.sh`` sets ``ANSIBLE_COLLECTIONS_PATH`` to the collection installed from the built
tarball, so the tests check what ships; run alone, pytest imports the source tree through a
symlinked ``ansible_collections/flaskfleet/cloud``. Ansible's own collection loader does the
imports, exactly as ``ansible-test units`` would.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from ansible.utils.collection_loader._collection_finder import _AnsibleCollectionFinder

ROOT = Path(__file__).resolve().parents[3]


def _collections_root() -> str:
    """A collections path holding flaskfleet.cloud: the installed copy, else the source tree."""
    for path in os.environ.get("ANSIBLE_COLLECTIONS_PATH", "").split(os.pathsep):
        if path and (Path(path) / "ansible_collections" / "flaskfleet" / "cloud").is_dir():
            return path
    tmp = Path(tempfile.mkdtemp(prefix="flaskfleet-units-"))
    (tmp / "ansible_collections" / "flaskfleet").mkdir(parents=True)
    (tmp / "ansible_collections" / "flaskfleet" / "cloud").symlink_to(ROOT)
    return str(tmp)


_AnsibleCollectionFinder(paths=[_collections_root()])._install()
