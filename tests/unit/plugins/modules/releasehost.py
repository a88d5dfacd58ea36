"""Run the release modules as Ansible runs them on a host, against a temporary base_dir.

Each module runs in its own process with JSON arguments and the installed collection on the path.
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[4]
R1, R2, R3 = "20261129T101500Z", "20261129T111500Z", "20261129T121500Z-hotfix"
ME = pwd.getpwuid(os.getuid()).pw_name
MY_GROUP = grp.getgrgid(os.getgid()).gr_name


def run_module(collections_path, name, args, check=False, diff=False):
    """Run ``flaskfleet.cloud.<name>`` with ``args``; returns its JSON result."""
    payload = dict(args, _ansible_check_mode=check, _ansible_diff=diff)
    proc = subprocess.run(
        [sys.executable, "-m", "ansible_collections.flaskfleet.cloud.plugins.modules.%s" % name],
        input=json.dumps({"ANSIBLE_MODULE_ARGS": payload}),
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=collections_path),
        timeout=300,
        check=False,
    )
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr
    return json.loads(proc.stdout)


class ReleaseHost:
    """A base_dir with artifacts to upload; ``release(**args)`` and ``info(**args)`` run the modules on it."""

    def __init__(self, base: Path, artifacts: dict, collections_path: str):
        self.base, self.app, self.artifacts, self.collections_path = base, base / "hello", artifacts, collections_path

    def upload(self, rid, source=None):
        (self.app / "artifacts").mkdir(parents=True, exist_ok=True)
        dest = self.app / "artifacts" / ("%s.tar.gz" % rid)
        shutil.copyfile(source or self.artifacts[rid], dest)
        return str(dest)

    def run(self, module, check=False, diff=False, **args):
        args = dict({"app": "hello", "base_dir": str(self.base)}, **args)
        return run_module(self.collections_path, module, args, check=check, diff=diff)

    def release(self, check=False, diff=False, **args):
        return self.run("release", check=check, diff=diff, **args)

    def info(self, check=False, **args):
        return self.run("release_info", check=check, **args)

    def stage(self, rid, **args):
        return self.release(release_id=rid, artifact=self.upload(rid), state="staged", **args)
