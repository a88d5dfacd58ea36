"""module_utils/_release_install.py: the venv's Python must fit the artifact's compiled wheels."""

from __future__ import annotations

import sys

import pytest
from ansible_collections.flaskfleet.cloud.plugins.module_utils._release_install import check_python
from ansible_collections.flaskfleet.cloud.plugins.module_utils._release_layout import ReleaseError

HOST_PY = "%d.%d" % sys.version_info[:2]


def test_compiled_wheels_for_another_python_are_refused_before_any_venv(tmp_path):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    (wheels / "markupsafe-2.1.5-cp27-cp27mu-linux_x86_64.whl").write_bytes(b"")
    with pytest.raises(ReleaseError) as err:
        check_python(sys.executable, {"python": "2.7"}, str(wheels))
    assert str(err.value) == (
        "artifact was built with Python 2.7 but %s on this host is Python %s: build the artifact with Python %s"
        % (sys.executable, HOST_PY, HOST_PY)
    )
    assert not (tmp_path / "venv").exists()


def test_pure_python_wheels_fit_any_python(tmp_path):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    (wheels / "flask-3.0.0-py3-none-any.whl").write_bytes(b"")
    assert check_python(sys.executable, {"python": "2.7"}, str(wheels)) is None
    assert check_python(sys.executable, {"python": HOST_PY}, str(wheels)) is None


def test_a_missing_interpreter_is_one_line(tmp_path):
    with pytest.raises(ReleaseError, match=r"^/nonexistent/python3 failed: cannot run /nonexistent/python3 \("):
        check_python("/nonexistent/python3", {}, str(tmp_path))
