"""The host contract, read from the collection's own file: never a copy.

The names an app has on a host (app-name rule, release-id rule, base dir, unit and socket names,
default health path) are defined once, in the collection's ``plugins/module_utils/_contract.py``.
That file is pure standard library, so this package loads it as it is:

1. from the source tree this package sits in (a checkout, an editable install: what
   ``make setup`` does), else
2. from the ``flaskfleet.cloud`` collection Ansible would use (its configured collections paths),
   the one ``invoke deploy`` drives anyway.

Why not a copy or a data file: see docs/architecture.md, "One host contract".
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

RELATIVE = Path("plugins", "module_utils", "_contract.py")
_COLLECTION = Path("ansible_collections", "flaskfleet", "cloud")


class ContractNotFound(RuntimeError):
    """Neither the source tree nor an installed collection holds the contract file."""


def candidates() -> list[Path]:
    """Where the contract file may be, in the order they are tried."""
    found = [Path(__file__).resolve().parents[1] / RELATIVE]
    try:
        from ansible import constants

        found += [Path(p).expanduser() / _COLLECTION / RELATIVE for p in constants.COLLECTIONS_PATHS]
    except Exception:  # noqa: S110 - ansible-core missing or misconfigured: the source tree is all we have
        pass
    return found


def load() -> ModuleType:
    """The contract module (loaded once per process)."""
    if "flaskfleet._host_contract" in sys.modules:
        return sys.modules["flaskfleet._host_contract"]
    path = next((p for p in candidates() if p.is_file()), None)
    if path is None:
        raise ContractNotFound(
            "cannot find the flaskfleet.cloud collection's plugins/module_utils/_contract.py: install the"
            " collection (make setup) or run from a flaskfleet checkout"
        )
    spec = importlib.util.spec_from_file_location("flaskfleet._host_contract", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


contract = load()
APP_NAME_RE = contract.APP_NAME_RE
RELEASE_ID_RE = contract.RELEASE_ID_RE
DEFAULT_BASE_DIR: str = contract.DEFAULT_BASE_DIR
DEFAULT_HEALTH_PATH: str = contract.DEFAULT_HEALTH_PATH
app_name_problem = contract.app_name_problem
release_id_problem = contract.release_id_problem
names = contract.names
unit_pattern = contract.unit_pattern
