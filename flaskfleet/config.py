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
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from invoke import Config
from invoke.exceptions import UncastableEnvVar

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


def config_defaults() -> dict[str, Any]:
    """:data:`DEFAULTS` as installed in invoke's config: numbers and lists left unset (``None``).

    Invoke's env loader casts a variable to the type of the value it replaces (and cannot cast to a
    list), so the config holds only strings; :func:`settings` applies the typed defaults and
    parses and checks every number, so a bad value is one clear line wherever it came from.
    """
    return {key: value if isinstance(value, str) or value is None else None for key, value in DEFAULTS.items()}


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


def _offered_env(config: Config, environ: MutableMapping[str, str]) -> dict[str, str]:
    """The short ``FLASKFLEET_<KEY>`` variables under invoke's own name for the same key in ``config``.

    Invoke reads ``<PREFIX>_FLASKFLEET_<KEY>``, where ``<PREFIX>`` is the config class's public
    ``env_prefix`` (or ``prefix``): ``INVOKE`` for the ``invoke`` command, ``FLASKFLEET`` for ours.
    Only known keys are offered, and never over invoke's long form (which wins when both are set).
    """
    prefix = (config.env_prefix or config.prefix).upper() + "_FLASKFLEET_"
    offered = {}
    for key in DEFAULTS:
        short, long_name = ENV_PREFIX + key.upper(), prefix + key.upper()
        if short in environ and long_name not in environ:
            offered[long_name] = environ[short]
    return offered


def load_short_env(config: Config, environ: MutableMapping[str, str] | None = None) -> None:
    """Let invoke's env loader read the short variables too, at invoke's place for env vars.

    The short names are offered to invoke under its long names for the time of one public
    :meth:`invoke.Config.load_shell_env` call (which rebuilds the env layer and re-merges, so the
    precedence stays invoke's: project files < env < ``-f`` file), then the environment is as before.
    """
    environ = os.environ if environ is None else environ
    offered = _offered_env(config, environ)
    if not offered:
        return
    environ.update(offered)
    try:
        config.load_shell_env()
    except (ValueError, UncastableEnvVar) as err:
        names = ", ".join(sorted(ENV_PREFIX + name.rsplit("_FLASKFLEET_", 1)[1] for name in offered))
        raise SettingsError(f"cannot read {names} from the environment: {err}") from None
    finally:
        for name in offered:
            environ.pop(name, None)


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
        defaults["flaskfleet"] = config_defaults()
        return defaults


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
    load_short_env(config)
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
    app_env = values["app_env"] or []
    values["app_env"] = (
        [v for v in app_env.replace(",", " ").split() if v] if isinstance(app_env, str) else list(app_env)
    )
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
