"""The ``flaskfleet`` console script: invoke's ``Program`` over :data:`flaskfleet.tasks.ns`.

Works without a ``tasks.py`` (like Fabric's ``fab``): ``flaskfleet run "uptime" -H web``. It reads the
same ``invoke.yaml`` project file as ``invoke`` (from the current directory) and the short
``FLASKFLEET_<KEY>`` environment variables (:class:`flaskfleet.config.FleetConfig`).
"""

from __future__ import annotations

import os
from importlib.metadata import PackageNotFoundError, version

from invoke import Program

from flaskfleet.config import FleetConfig
from flaskfleet.tasks import ns


class FleetProgram(Program):
    """A Program with a bundled namespace that still loads the project's ``invoke.yaml``."""

    def parse_collection(self) -> None:
        """Use the bundled tasks, and the project config of the current directory.

        NOTE: invoke loads project config only when it finds a tasks.py on disk; with a bundled
        namespace we point it at the working directory ourselves.
        """
        super().parse_collection()
        self.config.set_project_location(os.getcwd())
        self.config.load_project()


def _version() -> str:
    """The installed package's version."""
    try:
        return version("flaskfleet")
    except PackageNotFoundError:  # running from a source tree without installing
        return "0+unknown"


program = FleetProgram(
    name="flaskfleet",
    binary="flaskfleet",
    namespace=ns,
    version=_version(),
    config_class=FleetConfig,
)


def main() -> None:
    """Console script entry point."""
    program.run()
