"""Configuration the invoke way: defaults < invoke.yaml < env vars < ``-f`` file < CLI flags.

All flaskfleet settings live under one key, ``flaskfleet``, so tasks read them as
``c.flaskfleet.inventory``. Two things are added to invoke's own hierarchy:

* short environment variables: ``FLASKFLEET_INVENTORY`` sets ``flaskfleet.inventory`` (invoke alone
  would want ``INVOKE_FLASKFLEET_INVENTORY``, which keeps working too);
* :func:`settings` folds a task's command-line flags over the merged config and validates the
  result, so every task sees one typed :class:`Settings` object.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from invoke import Config

#: Defaults for every key under ``flaskfleet``; ``Collection.configure`` installs them.
DEFAULTS: dict[str, Any] = {
    "inventory": "inventory/local.fleet.yml",
    "hosts": "web",
    "app_path": "examples/hello",
    "app_name": None,
    "app_env": [],
    "parallel": 50,
    "timeout": 60,
    # NOTE: put/get move data whose size we do not bound; a command's 60 s would cut off a big
    # upload to many hosts on a busy controller. --timeout still overrides it.
    "transfer_timeout": 600,
    "connect_timeout": 10,
    "state_dir": ".flaskfleet",
    "artifact_dir": "build/artifacts",
    "transfer_method": "auto",
}

ENV_PREFIX = "FLASKFLEET_"
_INT_KEYS = ("parallel", "timeout", "transfer_timeout", "connect_timeout")
_LIST_KEYS = ("app_env",)
_TRANSFER_METHODS = ("auto", "sftp", "scp")


class SettingsError(ValueError):
    """A setting has a value we cannot use; the message says which and how to fix it."""


@dataclass(frozen=True)
class Settings:
    """The effective flaskfleet settings of one task invocation."""

    inventory: str
    hosts: str
    app_path: str
    app_name: str | None
    parallel: int
    timeout: int
    connect_timeout: int
    transfer_timeout: int
    state_dir: Path
    artifact_dir: Path
    transfer_method: str
    app_env: list[str] = field(default_factory=list)

    @property
    def known_hosts(self) -> Path:
        """The project's known_hosts file (strict host key checking)."""
        return self.state_dir / "known_hosts"

    @property
    def ssh_key(self) -> Path:
        """The project's SSH private key for local hosts."""
        return self.state_dir / "id_ed25519"


def short_env(environ: dict[str, str] | None = None) -> dict[str, Any]:
    """Map ``FLASKFLEET_<KEY>`` environment variables onto ``{"flaskfleet": {key: value}}``.

    Only known keys are taken (like invoke's own env loader), so unrelated variables that share
    the prefix are ignored. ``FLASKFLEET_FLASKFLEET_*`` is invoke's long form and left to invoke.
    """
    environ = os.environ if environ is None else environ
    found: dict[str, Any] = {}
    for key in DEFAULTS:
        value = environ.get(ENV_PREFIX + key.upper())
        if value is None:
            continue
        found[key] = [v for v in value.replace(",", " ").split() if v] if key in _LIST_KEYS else value
    return {"flaskfleet": found} if found else {}


def apply_short_env(config: Config, environ: dict[str, str] | None = None) -> None:
    """Fold :func:`short_env` into ``config``'s env layer, keeping invoke's precedence.

    NOTE: invoke has no public hook to add env-derived data, so this extends the private ``_env``
    layer and re-merges; the layer order (env above project files, below ``-f`` and flags) is
    then exactly invoke's.
    """
    extra = short_env(environ)
    if not extra:
        return
    layer = dict(config._env)
    ours = dict(layer.get("flaskfleet", {}))
    for key, value in extra["flaskfleet"].items():
        ours.setdefault(key, value)  # invoke's long form wins when both are set
    layer["flaskfleet"] = ours
    config._set(_env=layer)
    config.merge()
    config._set(_flaskfleet_short_env=True)


class FleetConfig(Config):
    """Config for the ``flaskfleet`` program: reads ``invoke.yaml`` files, env prefix ``FLASKFLEET``."""

    prefix = "flaskfleet"
    # The same project file as the ``invoke`` command, so both front ends agree.
    file_prefix = "invoke"
    env_prefix = "FLASKFLEET"

    @staticmethod
    def global_defaults() -> dict[str, Any]:
        """Invoke's defaults plus ours."""
        defaults = Config.global_defaults()
        defaults["flaskfleet"] = dict(DEFAULTS)
        return defaults

    def load_shell_env(self) -> None:
        """Load invoke's env vars, then the short ``FLASKFLEET_<KEY>`` ones."""
        super().load_shell_env()
        apply_short_env(self)


def positive_int(key: str, value: Any) -> int:
    """Parse a positive integer setting or say how to fix it."""
    try:
        number = int(str(value).strip())
    except ValueError:
        number = 0
    if number < 1:
        raise SettingsError(f"{key} must be a positive whole number, got {value!r}")
    return number


def _merged(c: Any) -> dict[str, Any]:
    """The ``flaskfleet`` section of ``c``'s config over :data:`DEFAULTS`."""
    config = c.config
    if not isinstance(config, FleetConfig) and not getattr(config, "_flaskfleet_short_env", False):
        # Plain ``invoke`` uses its own Config class: add the short env vars once.
        apply_short_env(config)
    section = dict(DEFAULTS)
    section.update({k: v for k, v in dict(config.get("flaskfleet") or {}).items() if v is not None})
    return section


def settings(c: Any, **flags: Any) -> Settings:
    """Effective settings for a task: config, then the task's flags (``None`` means not given).

    :raises SettingsError: when a value cannot be used.
    """
    values = _merged(c)
    values.update({k: v for k, v in flags.items() if v not in (None, "", [])})
    for key in _INT_KEYS:
        values[key] = positive_int(key, values[key])
    if values["transfer_method"] not in _TRANSFER_METHODS:
        raise SettingsError(
            f"transfer_method must be one of {', '.join(_TRANSFER_METHODS)}, got {values['transfer_method']!r}"
        )
    app_env = values["app_env"]
    values["app_env"] = [app_env] if isinstance(app_env, str) else list(app_env)
    return Settings(
        inventory=str(values["inventory"]),
        hosts=str(values["hosts"]),
        app_path=str(values["app_path"]),
        app_name=values["app_name"] or None,
        parallel=values["parallel"],
        timeout=values["timeout"],
        connect_timeout=values["connect_timeout"],
        transfer_timeout=values["transfer_timeout"],
        state_dir=Path(values["state_dir"]).expanduser().absolute(),
        artifact_dir=Path(values["artifact_dir"]).expanduser().absolute(),
        transfer_method=values["transfer_method"],
        app_env=values["app_env"],
    )
