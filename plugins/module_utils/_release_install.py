# -*- coding: utf-8 -*-
# Copyright: flaskfleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The release's virtualenv: created with the host's Python, the app installed offline from its wheelhouse.

pip runs with ``--no-index --find-links wheels/`` and a clean environment, so no index or user
configuration is ever consulted.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import errno
import os
import subprocess

from ansible_collections.flaskfleet.cloud.plugins.module_utils._release_layout import ReleaseError

_PIP_TIMEOUT = 900


def _clean_env():
    """Environment for pip on the host: no user/site pip config can re-enable an index."""
    env = dict((k, v) for k, v in os.environ.items() if not k.startswith("PIP_"))
    for key in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP"):
        env.pop(key, None)
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PIP_NO_INPUT"] = "1"
    return env


def _run(cmd, what):
    """Run a command; on failure raise with its most telling output line."""
    try:
        proc = subprocess.run(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_clean_env(), timeout=_PIP_TIMEOUT,
            universal_newlines=True, check=False,
        )  # fmt: skip
    except OSError as exc:
        raise ReleaseError("%s failed: cannot run %s (%s)" % (what, cmd[0], exc.strerror)) from exc
    except subprocess.TimeoutExpired as exc:
        raise ReleaseError("%s did not finish within %d s" % (what, _PIP_TIMEOUT)) from exc
    if proc.returncode != 0:
        output = proc.stderr + proc.stdout
        if "No space left on device" in output:
            raise OSError(errno.ENOSPC, "No space left on device")
        lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
        errors = [ln for ln in lines if ln.startswith(("ERROR", "Error", "error"))]
        raise ReleaseError("%s failed: %s" % (what, (errors or lines or ["exit status %d" % proc.returncode])[0]))
    return proc.stdout


def _has_binary_wheels(wheels_dir):
    """True when the wheelhouse holds wheels built for one Python version (``cp311`` ...)."""
    return any("-none-any" not in n for n in os.listdir(wheels_dir) if n.endswith(".whl"))


def check_python(python, manifest, wheels_dir):
    """Refuse early when compiled wheels were built for another Python than the host's."""
    version = _run([python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"], "%s" % python).strip()
    wanted = manifest.get("python")
    if wanted and version != wanted and os.path.isdir(wheels_dir) and _has_binary_wheels(wheels_dir):
        raise ReleaseError(
            "artifact was built with Python %s but %s on this host is Python %s: build the artifact with"
            " Python %s" % (wanted, python, version, version)
        )


def _relocate_venv(venv, built_at, final):
    """Point scripts and activate files of a venv built under ``built_at`` to ``final``.

    Shebangs and ``VIRTUAL_ENV`` hold absolute paths; the venv is built in the ``.partial`` dir
    and renamed, so they are rewritten to the final location first.
    """
    old, new = built_at.encode(), final.encode()
    bindir = os.path.join(venv, "bin")
    candidates = [os.path.join(bindir, n) for n in os.listdir(bindir)] + [os.path.join(venv, "pyvenv.cfg")]
    for path in candidates:
        if os.path.islink(path) or not os.path.isfile(path):
            continue
        with open(path, "rb") as fh:
            data = fh.read()
        if old in data:
            with open(path, "wb") as fh:
                fh.write(data.replace(old, new))


_PIP_WHEEL_PROBE = """
import glob, os
try:
    import ensurepip
    found = sorted(glob.glob(os.path.join(os.path.dirname(ensurepip.__file__), "_bundled", "pip-*.whl")))
except ImportError:
    found = []
found += sorted(glob.glob("/usr/share/python-wheels/pip-*.whl"))
print(found[-1] if found else "")
"""


def _bundled_pip(python):
    """The pip wheel that ships with ``python`` (ensurepip's, or Debian's python3-pip-whl), or ``None``.

    Running pip straight from that wheel avoids installing pip into every release's venv: about
    8 s less per stage, and the app's venv carries no installer.
    """
    wheel = _run([python, "-c", _PIP_WHEEL_PROBE], "looking for the pip wheel of %s" % python).strip()
    return wheel or None


def _make_venv(python, venv):
    """Create the venv; returns the command prefix that runs pip for it."""
    what = "creating the venv with %s -m venv (is python3-venv installed?)" % python
    venv_python = os.path.join(venv, "bin", "python")
    wheel = _bundled_pip(python)
    if wheel:
        _run([python, "-m", "venv", "--without-pip", venv], what)
        return [venv_python, os.path.join(wheel, "pip")]
    _run([python, "-m", "venv", venv], what)
    return [venv_python, "-m", "pip"]


def build_venv(python, build_dir, final_dir, manifest):
    """Create ``venv/`` and install the app from the artifact's wheelhouse, offline.

    ``pip install --no-index --find-links wheels/`` never touches the network; byte code is
    compiled afterwards with the final path so tracebacks name real files.
    """
    venv, wheels = os.path.join(build_dir, "venv"), os.path.join(build_dir, "wheels")
    check_python(python, manifest, wheels)
    pip = [*_make_venv(python, venv), "install", "--no-index", "--find-links", wheels]
    # NOTE: extra_requirements is the WSGI server the builder added when the app does not depend on it.
    wanted = [manifest["requirement"], *(manifest.get("extra_requirements") or [])]
    _run([*pip, "--no-compile", "--no-cache-dir", *wanted], "pip install %s" % " ".join(wanted))
    _relocate_venv(venv, build_dir, final_dir)
    compile_cmd = [os.path.join(venv, "bin", "python"), "-m", "compileall", "-q", "-f", "-j", "0"]
    _run([*compile_cmd, "-s", build_dir, "-p", final_dir, os.path.join(venv, "lib")], "compiling the venv")
