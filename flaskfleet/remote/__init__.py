"""The programs flaskfleet runs on a host during a transfer, kept as real, linted Python files.

Each program is ``common.py`` followed by the program's own file, run with the host's ``python3``
(``python3 -c``), so nothing has to be installed on the host. The files stay compatible with
Python 3.6 (Debian 10 and later, EL 8) and use only the standard library. The wire format (one
JSON line per request, then raw bytes) is described in each program's docstring.
"""

from __future__ import annotations

import functools
import shlex
from importlib import resources

#: The programs a transfer runs: ``put`` (observe, receive, verify, rename), ``listing`` and ``send``.
PROGRAMS = ("put", "listing", "send")


@functools.cache
def program(name: str) -> str:
    """The source of the host program ``name``: the common helpers, then the program itself.

    :param name: one of :data:`PROGRAMS`.
    :returns: Python source for ``python3 -c``.
    """
    if name not in PROGRAMS:
        raise ValueError(f"no host program called {name!r}")
    folder = resources.files(__name__)
    return (folder / "common.py").read_text() + "\n" + (folder / f"{name}.py").read_text()


def command(name: str) -> str:
    """The shell command that runs the host program ``name`` (stdin stays free for data)."""
    return f"python3 -c {shlex.quote(program(name))}"
