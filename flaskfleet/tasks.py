"""The flaskfleet invoke tasks. In your own ``tasks.py``: ``from flaskfleet.tasks import ns``.

Every task reads its settings from ``c.flaskfleet`` (see :mod:`flaskfleet.config`), lets its
flags override them, and turns user errors into ``Exit("one line")``: no tracebacks for a wrong
pattern, a missing inventory or a bad path. Anything that changes a release (deploy, rollback,
provision, teardown) drives the collection's playbooks, so the release logic exists once.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import functools
import inspect
import os
import re
import shutil
import signal
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml
from invoke import Collection, Context, Exit, Task, task

from flaskfleet import contract, output
from flaskfleet import playbook as playbooks
from flaskfleet.config import Settings, SettingsError, config_defaults, positive_int, settings
from flaskfleet.group import Fleet, failed
from flaskfleet.inventory import Host, Inventory, InventoryError
from flaskfleet.ssh import HostKeyError, HostResult, connect, describe_error, open_connection, shell_command, sudo_wrap
from flaskfleet.transfer import LocalTree, TransferError

# Short flags, the same in every task that has the argument (invoke would pick first letters).
SHORT_FLAGS = {
    "hosts": "H", "inventory": "i", "json": "j", "parallel": "p", "timeout": "t", "sudo": "s",
    "app_path": "a", "app_name": "n", "follow": "f", "lines": "l", "env": "e", "to": "r", "verbose": "v",
    "method": "m", "extra_vars": "x", "dest": "d",
}  # fmt: skip

HELP = {
    "hosts": "Ansible host pattern: web, all, web:&prod, web:!web-3, 'web-1,web-2', 'web-*' (default: config hosts)",
    "inventory": "inventory source read with ansible-inventory (default: config inventory, inventory/local.fleet.yml)",
    "json": "print machine-readable JSON instead of the table",
    "parallel": "at most this many hosts at once (default: config parallel)",
    "timeout": "seconds each host may take, connecting included (default: config timeout)",
    "app_path": "directory of the app to deploy (default: config app_path, examples/hello)",
    "app_name": "app name on the hosts (default: config app_name, else the app's project name)",
    "extra_vars": "KEY=VALUE for the playbook (repeatable), e.g. -x flask_app_serial=1",
    "verbose": "pass -v to ansible-playbook (repeat for more); secrets stay masked (no_log)",
}


class FleetTask(Task):
    """A Task whose arguments get our fixed short flags (``-H`` for hosts, ...)."""

    def arg_opts(self, name: str, default: Any, taken_names: set[str]) -> dict[str, Any]:
        """Invoke's options for one argument, with the short flag from :data:`SHORT_FLAGS`."""
        opts = super().arg_opts(name, default, taken_names)
        short = SHORT_FLAGS.get(name)
        opts["names"] = [opts["names"][0]] + ([short] if short and short not in taken_names else [])
        return opts


def user_errors() -> tuple[type[Exception], ...]:
    """The exceptions whose message is already fit for people: a task ends with it, no traceback.

    NOTE: called only when an exception is on its way (``except user_errors()``), so the artifact
    builder is imported only by the tasks that build.
    """
    from flaskfleet.artifact import ArtifactError

    return SettingsError, InventoryError, HostKeyError, TransferError, ArtifactError


def one_line_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn :func:`user_errors` raised by ``fn`` into ``Exit("flaskfleet: <message>")``."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except user_errors() as exc:
            raise Exit(f"flaskfleet: {exc}") from None

    return wrapper


def fleet_task(**kwargs: Any) -> Callable[[Callable[..., Any]], FleetTask]:
    """``@task`` with :class:`FleetTask`, the shared help texts of the arguments it has, and
    :func:`one_line_errors`."""

    def decorate(fn: Callable[..., Any]) -> FleetTask:
        params = inspect.signature(fn).parameters
        kwargs["help"] = {k: v for k, v in {**HELP, **kwargs.get("help", {})}.items() if k in params}
        return task(klass=FleetTask, **kwargs)(one_line_errors(fn))

    return decorate


@dataclasses.dataclass(frozen=True)
class PlaybookFlags:
    """The flags every playbook task has: ``-i INVENTORY``, ``-x KEY=VALUE`` (repeatable), ``-v`` (counted)."""

    inventory: str | None = None
    extra_vars: tuple[str, ...] = ()
    verbose: int = 0


_PLAYBOOK_PARAMETERS = [
    inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)
    for name, default, annotation in (("inventory", None, "str | None"), ("extra_vars", None, "list[str] | None"),
                                      ("verbose", 0, "int"))
]  # fmt: skip


def playbook_task(**kwargs: Any) -> Callable[[Callable[..., Any]], FleetTask]:
    """:func:`fleet_task` for a task that runs a playbook.

    The task is written with its own arguments and a keyword-only ``flags: PlaybookFlags``; the
    shared ``--inventory``, ``--extra-vars`` and ``--verbose`` are added to the signature invoke
    reads (``__signature__``) and handed to the task as one :class:`PlaybookFlags`.
    """
    kwargs["iterable"] = [*kwargs.get("iterable", []), "extra_vars"]
    kwargs["incrementable"] = ["verbose"]

    def decorate(fn: Callable[..., Any]) -> FleetTask:
        own = [p for p in inspect.signature(fn).parameters.values() if p.name != "flags"]

        @functools.wraps(fn)
        def with_flags(*args: Any, inventory: str | None = None, extra_vars: list[str] | None = None,
                       verbose: int = 0, **own_kwargs: Any) -> Any:  # fmt: skip
            return fn(*args, flags=PlaybookFlags(inventory, tuple(extra_vars or ()), verbose), **own_kwargs)

        with_flags.__signature__ = inspect.signature(fn).replace(parameters=own + _PLAYBOOK_PARAMETERS)  # type: ignore[attr-defined]
        return fleet_task(**kwargs)(with_flags)

    return decorate


# -- shared steps -------------------------------------------------------------------------------
def load_settings(c: Context, **flags: Any) -> Settings:
    """Config plus flags (:func:`flaskfleet.config.settings`)."""
    return settings(c, **flags)


@one_line_errors
def transfer_settings(c: Context, timeout: str | None = None, **flags: Any) -> Settings:
    """Settings for ``put``/``get``: each host's deadline is ``transfer_timeout`` unless ``--timeout`` is given."""
    s = load_settings(c, timeout=timeout, **flags)
    return s if timeout else dataclasses.replace(s, timeout=s.transfer_timeout)


def load_inventory(s: Settings) -> Inventory:
    """The inventory, read with the project's known_hosts and key as defaults."""
    key = str(s.ssh_key) if s.ssh_key.exists() else None
    return Inventory.load(s.inventory, default_known_hosts=str(s.known_hosts), default_key=key)


def select_hosts(s: Settings, pattern: str | None = None) -> list[Host]:
    """Hosts matching ``pattern`` (default: the configured one)."""
    return load_inventory(s).select(pattern or s.hosts)


def fan_out(s: Settings, hosts: list[Host], label: str, step: Callable[[Fleet], list[HostResult]]):
    """Run ``step`` on a fleet of ``hosts`` with a progress bar; returns (results, seconds)."""
    started = time.monotonic()
    with output.progress(label, len(hosts)) as advance:
        fleet = Fleet(hosts, s.parallel, s.timeout, s.connect_timeout, on_result=advance)
        with fleet:
            results = step(fleet)
    return results, time.monotonic() - started


def finish(results: Sequence[HostResult], title: str, elapsed: float, as_json: bool, show_output: bool = True):
    """Print results (table or JSON); non-zero exit when any host failed."""
    if as_json:
        output.print_json([r.as_dict() for r in results])
    else:
        output.report(results, title, elapsed, show_output=show_output)
    bad = failed(results)
    if bad:
        names = ", ".join(r.host for r in bad)
        raise Exit(f"flaskfleet: {len(bad)} of {len(results)} hosts failed: {names}", code=1)


def app_name_for(s: Settings, hosts: Sequence[Host] = ()) -> str:
    """The app's name: configured, else the project's name at ``app_path``, else the hosts' ``flaskfleet_app``.

    The name ends up in unit names and paths on the hosts, so it is checked here, by the host
    contract's rule (the same the roles and the modules apply), and never changed.
    """
    name = s.app_name or _app_name_guess(s, hosts)
    problem = contract.app_name_problem(name)
    if problem:
        raise Exit(f"flaskfleet: {problem}")
    return name


def _app_name_guess(s: Settings, hosts: Sequence[Host]) -> str:
    """The project's name at ``app_path``, else the one ``flaskfleet_app`` all hosts share."""
    from flaskfleet.artifact import ArtifactError, inspect_app

    with contextlib.suppress(ArtifactError, OSError):
        return inspect_app(s.app_path).name
    apps = {h.vars.get("flaskfleet_app") for h in hosts} - {None}
    if len(apps) == 1:
        return str(apps.pop())
    raise Exit("flaskfleet: cannot tell the app name; pass --app-name NAME or set flaskfleet.app_name")


def describe_vars(data: dict[str, Any], secret_keys: Sequence[str] = ("flask_app_env",)) -> str:
    """``key=value`` pairs for the log line, secret values replaced by their count."""
    shown = []
    for key, value in data.items():
        if key in secret_keys:
            shown.append(f"{key}=<{len(value)} values masked>")
        else:
            shown.append(f"{key}={value}")
    return " ".join(shown)


def play(s: Settings, playbook: str, extra: dict[str, Any], verbose: int = 0) -> None:
    """Run ``flaskfleet.cloud.PLAYBOOK`` through ansible-runner (:mod:`flaskfleet.playbook`); ``Exit`` on failure."""
    output.console(stderr=True).print(f"flaskfleet: ansible-playbook flaskfleet.cloud.{playbook} "
                                      f"-i {s.inventory} ({output.escape(describe_vars(extra))})")  # fmt: skip
    secrets = [str(value) for value in (extra.get("flask_app_env") or {}).values()]
    try:
        result = playbooks.run(playbook, s.inventory, extra, verbose, secrets)
    except playbooks.PlaybookError as exc:
        raise Exit(f"flaskfleet: {exc}") from None
    output.console().print(playbooks.summary_table(result, secrets))
    if not result.ok:
        where = "the table above" if result.hosts else "its output above"
        raise Exit(f"flaskfleet: playbook flaskfleet.cloud.{playbook} failed (exit {result.rc}); see {where}",
                   result.rc or 1)  # fmt: skip


def parse_pairs(pairs: Sequence[str], what: str) -> dict[str, str]:
    """``KEY=VALUE`` strings into a dict, or ``Exit`` naming the bad one."""
    data = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise Exit(f"flaskfleet: {what} {pair!r} is not KEY=VALUE")
        data[key.strip()] = value
    return data


def parse_extra_vars(pairs: Sequence[str] | None) -> dict[str, Any]:
    """``-x KEY=VALUE`` playbook variables; values read as YAML scalars (``3`` is a number, ``true`` a bool)."""
    typed = {}
    for key, value in parse_pairs(pairs or [], "extra var").items():
        try:
            typed[key] = yaml.safe_load(value) if value else ""
        except yaml.YAMLError:
            typed[key] = value
    return typed


def read_env_file(path: str) -> dict[str, str]:
    """``NAME=value`` lines of a dotenv file (comments and blanks skipped), or ``Exit``."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as exc:
        raise Exit(f"flaskfleet: cannot read env file {path}: {exc.strerror}") from None
    pairs = [ln.removeprefix("export ").strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
    return {k: v.strip().strip("'\"") for k, v in parse_pairs(pairs, f"line in {path}:").items()}


def app_env(names: Sequence[str], env_file: str | None) -> dict[str, str]:
    """Secret env values for the app: from ``env_file`` and from controller env vars by name."""
    values = read_env_file(env_file) if env_file else {}
    for name in names:
        if name not in os.environ:
            raise Exit(f"flaskfleet: environment variable {name} is not set; export it or drop it from --env/app_env")
        values[name] = os.environ[name]
    return values


# -- tasks --------------------------------------------------------------------------------------
@fleet_task(help={"hosts": "Ansible host pattern to list (default: all)"})
def hosts(c: Context, hosts: str | None = None, inventory: str | None = None, json: bool = False) -> None:
    """List the inventory's hosts (the same ones ansible-inventory --list shows)."""
    s = load_settings(c, inventory=inventory)
    selected = select_hosts(s, hosts or "all")
    if json:
        output.print_json([h.public() for h in selected])
        return
    table = output.Table(box=output.box.SIMPLE_HEAD, pad_edge=False)
    for column in ("HOST", "ADDRESS", "PORT", "USER", "GROUPS", "PROVIDER"):
        table.add_column(column)
    for h in selected:
        table.add_row(
            h.name, h.address, str(h.port), h.user or "", ",".join(h.groups), h.vars.get("flaskfleet_provider", "")
        )
    out = output.console()
    out.print(table)
    out.print(f"{len(selected)} hosts")


@fleet_task(help={"command": "shell command to run on each host", "sudo": "run it as root (sudo -n)"})
def run(
    c: Context,
    command: str,
    hosts: str | None = None,
    sudo: bool = False,
    timeout: str | None = None,
    parallel: str | None = None,
    inventory: str | None = None,
    json: bool = False,
) -> None:
    """Run an ad-hoc shell command on every host matching the pattern, in parallel."""
    if not command.strip():
        raise Exit("flaskfleet: the command is empty; give the shell command to run")
    s = load_settings(c, inventory=inventory, timeout=timeout, parallel=parallel)
    selected = select_hosts(s, hosts)
    results, elapsed = fan_out(s, selected, "run", lambda fleet: fleet.run(command, sudo=sudo))
    finish(results, f"run: {command}", elapsed, json)


@fleet_task(
    help={
        "local": "local file or directory to upload",
        "remote": "target path on the hosts (a directory's contents go into it; ending in / keeps the file name)",
        "method": "auto (scp for big files when installed), sftp or scp (default: config transfer_method)",
        "timeout": "seconds each host may take for the transfer, connecting included (default: transfer_timeout)",
    }
)
def put(
    c: Context,
    local: str,
    remote: str,
    hosts: str | None = None,
    method: str | None = None,
    timeout: str | None = None,
    parallel: str | None = None,
    inventory: str | None = None,
    json: bool = False,
) -> None:
    """Upload a file or directory to every host: atomic, sha256-verified, skipped when unchanged."""
    s = transfer_settings(c, inventory=inventory, timeout=timeout, parallel=parallel, transfer_method=method)
    tree = LocalTree.scan(local)
    if not remote.startswith("/") and not remote.startswith("~"):
        raise Exit(f"flaskfleet: remote path {remote!r} must be absolute (start with /)")
    selected = select_hosts(s, hosts)
    results, elapsed = fan_out(s, selected, "put", lambda fleet: fleet.put(tree, remote, s.transfer_method))
    finish(results, f"put {local} -> {remote}", elapsed, json, show_output=False)


@fleet_task(
    help={
        "remote": "file or directory on the hosts",
        "dest": "local directory; each host's copy lands in DEST/<host>/ (default: fetched)",
        "method": "auto, sftp or scp (default: config transfer_method)",
        "timeout": "seconds each host may take for the transfer, connecting included (default: transfer_timeout)",
    },
)
def get(
    c: Context,
    remote: str,
    dest: str = "fetched",
    hosts: str | None = None,
    method: str | None = None,
    timeout: str | None = None,
    parallel: str | None = None,
    inventory: str | None = None,
    json: bool = False,
) -> None:
    """Download a file or directory from every host into per-host folders, sha256-verified."""
    s = transfer_settings(c, inventory=inventory, timeout=timeout, parallel=parallel, transfer_method=method)
    if Path(dest).exists() and not Path(dest).is_dir():
        raise Exit(f"flaskfleet: local path {dest} exists and is not a directory")
    selected = select_hosts(s, hosts)
    results, elapsed = fan_out(s, selected, "get", lambda fleet: fleet.get(remote, dest, s.transfer_method))
    finish(results, f"get {remote} -> {dest}/<host>/", elapsed, json, show_output=False)


def build_artifact(s: Settings, release_id: str | None) -> Any:
    """Build the app's artifact (:func:`flaskfleet.artifact.build`)."""
    from flaskfleet.artifact import build

    if not Path(s.app_path).is_dir():
        raise Exit(f"flaskfleet: app path {s.app_path} is not a directory; pass --app-path DIR")
    return build(s.app_path, s.artifact_dir, release_id=release_id, app_name=s.app_name)


def build_while_checking(s: Settings, release_id: str | None, check: Callable[[], Any]) -> Any:
    """Build the artifact while ``check`` reads the inventory (``ansible-inventory``: both take seconds).

    A bad inventory or pattern is still the error reported first, and the artifact built
    meanwhile is removed (with the directories the build created): bad input leaves nothing behind.
    """
    before = set(s.artifact_dir.glob("*.tar.gz")) if s.artifact_dir.is_dir() else set()
    made = [d for d in (s.artifact_dir, *s.artifact_dir.parents) if not d.exists()]  # innermost first
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        checking = pool.submit(check)
        try:
            artifact = build_artifact(s, release_id)
        except BaseException:
            checking.result()
            raise
        try:
            checking.result()
        except BaseException:
            if artifact.path not in before:
                artifact.path.unlink(missing_ok=True)
            for directory in made:
                with contextlib.suppress(OSError):  # not empty: something else writes there too
                    directory.rmdir()
            raise
    return artifact


@playbook_task(
    help={
        "env": "name of a controller env var whose value goes into the app's env file (repeatable; never printed)",
        "env_file": "dotenv file with the app's secrets (NAME=value lines; never printed)",
        "release_id": "release id to build (default: now, UTC, YYYYMMDDTHHMMSSZ)",
        "lock_wait": "seconds to wait for another run's deploy lock before failing (default 0: fail at once)",
        "site": "a fleet's first deploy: run flaskfleet.cloud.site (provision the hosts, base, nginx, then deploy)",
    },
    iterable=["env"],
)
def deploy(
    c: Context,
    app_path: str | None = None,
    app_name: str | None = None,
    hosts: str | None = None,
    env: list[str] | None = None,
    env_file: str | None = None,
    release_id: str | None = None,
    lock_wait: str | None = None,
    site: bool = False,
    *,
    flags: PlaybookFlags,
) -> None:
    """Build the app's artifact and deploy it with the flaskfleet.cloud.deploy playbook."""
    s = load_settings(c, app_path=app_path, app_name=app_name, inventory=flags.inventory)
    pattern = hosts or s.hosts
    # A bad pattern or inventory fails the deploy (read while the artifact builds); --site
    # creates the hosts first, so then the inventory only has to read.
    check = functools.partial(load_inventory, s) if site else functools.partial(select_hosts, s, pattern)
    secrets = app_env([*s.app_env, *(env or [])], env_file)
    more = parse_extra_vars(flags.extra_vars)
    if lock_wait is not None:
        more["flask_app_lock_wait"] = seconds("lock-wait", lock_wait)
    artifact = build_while_checking(s, release_id, check)
    output.console(stderr=True).print(f"flaskfleet: built {artifact.path.name} (release {artifact.release_id})")
    extra: dict[str, Any] = {
        **more,
        "flask_app_name": artifact.app,
        "flask_app_artifact": str(artifact.path),
        "flaskfleet_hosts": pattern,
    }
    if secrets:
        extra["flask_app_env"] = secrets
    if site:
        extra = {**provision_vars(s, artifact.app, None), **extra}
    play(s, "site" if site else "deploy", extra, flags.verbose)
    output.console().print(f"deployed {artifact.app} release {artifact.release_id} to {pattern}")


@playbook_task(
    help={
        "to": "release id to return to (default: the one before the current)",
    },
)
def rollback(
    c: Context, to: str | None = None, app_name: str | None = None, hosts: str | None = None, *, flags: PlaybookFlags
) -> None:
    """Switch the app back to the previous (or the given) release with the rollback playbook."""
    s = load_settings(c, app_name=app_name, inventory=flags.inventory)
    pattern = hosts or s.hosts
    selected = select_hosts(s, pattern)
    extra: dict[str, Any] = {
        **parse_extra_vars(flags.extra_vars),
        "flask_app_name": app_name_for(s, selected),
        "flaskfleet_hosts": pattern,
    }
    if to:
        from flaskfleet.artifact import validate_release_id

        extra["flask_app_rollback_to"] = validate_release_id(to)
    play(s, "rollback", extra, flags.verbose)


def seconds(name: str, value: str) -> int:
    """A whole number of seconds (0 or more) from a flag, or ``Exit`` naming the flag."""
    if not str(value).strip().isdigit():
        raise Exit(f"flaskfleet: --{name} must be a whole number of seconds (0 or more), got {value!r}")
    return int(str(value).strip())


#: ``release_info`` module arguments of a status inspection; each host's (or extra) vars fill them in,
#: so the role's settings (flask_app_base_dir, flask_app_health_path, ...) apply as in a deploy.
STATUS_ARGS = (
    "app={app}"
    " base_dir=\"{{{{ flask_app_base_dir | default('{base}') }}}}\""
    " health_path=\"{{{{ flask_app_health_path | default('{health}') }}}}\""
    ' health_status="{{{{ flask_app_health_status | default(200) }}}}"'
    ' health_timeout="{{{{ flask_app_health_timeout | default(5) }}}}"'
)


def status_result(host: str, status: str, data: dict[str, Any]) -> HostResult:
    """One host's ``release_info`` live inspection (``ok``/``failed``/``unreachable`` + result) as a HostResult."""
    message = " ".join(str(data.get("msg") or "failed").split())[:300]
    if status == "unreachable":
        return HostResult(host=host, ok=False, error=f"unreachable: {message}")
    if status != "ok":
        return HostResult(host=host, ok=False, exit_code=1, error=message)
    release = data.get("release_id")
    detail = {
        "release": release or "",
        "unit": data.get("unit_state") or "not deployed",
        "health": data.get("health") if data.get("health") is not None else "-",
        "health_path": data.get("health_path"),
        "releases": len(data.get("releases") or []),
        "healthy": bool(data.get("healthy")),
        "root": (data.get("layout") or {}).get("root"),
        "reasons": data.get("reasons") or [],
    }
    error = None if detail["healthy"] else ("not deployed" if not release else "; ".join(detail["reasons"]))
    return HostResult(host=host, ok=detail["healthy"], exit_code=0, error=error, detail=detail)


def inspect_live(s: Settings, pattern: str, app: str, extra: dict[str, Any]) -> list[HostResult]:
    """``flaskfleet.cloud.release_info`` (live release) on every host (ad hoc, through ansible-runner)."""
    args = STATUS_ARGS.format(app=app, base=contract.DEFAULT_BASE_DIR, health=contract.DEFAULT_HEALTH_PATH)
    cmdline = f"-b -T {s.connect_timeout} --task-timeout {s.timeout}"
    try:
        found = playbooks.run_module("flaskfleet.cloud.release_info", args, pattern, s.inventory, extra, cmdline)
    except playbooks.PlaybookError as exc:
        raise Exit(f"flaskfleet: status inspection failed: {exc}") from None
    return [status_result(host, status, data) for host, (status, data) in sorted(found.items())]


@fleet_task(help={"extra_vars": "KEY=VALUE role variable (repeatable), e.g. -x flask_app_health_path=/up"},
            iterable=["extra_vars"])  # fmt: skip
def status(
    c: Context,
    app_name: str | None = None,
    hosts: str | None = None,
    timeout: str | None = None,
    inventory: str | None = None,
    json: bool = False,
    extra_vars: list[str] | None = None,
) -> None:
    """Show each host's live release, unit state and health (the role's health path, through the release's socket).

    The release module's read-only inspection does the work on each host, with the role's
    variables (inventory vars and -x), so base dir and health path are the deploy's own.
    """
    s = load_settings(c, app_name=app_name, inventory=inventory, timeout=timeout)
    pattern = hosts or s.hosts
    selected = select_hosts(s, pattern)
    app = app_name_for(s, selected)
    started = time.monotonic()
    results = inspect_live(s, pattern, app, parse_extra_vars(extra_vars))
    elapsed = time.monotonic() - started
    if json:
        output.print_json([{**r.as_dict(), **r.detail, "app": app} for r in results])
    else:
        table = output.Table(title=f"status: {app}", box=output.box.SIMPLE_HEAD, title_justify="left", pad_edge=False)
        for column in ("HOST", "RELEASE", "UNIT", "HEALTH", "RELEASES", "ERROR"):
            table.add_column(column)
        for r in results:
            d = r.detail
            health = f"[green]healthy {d.get('health')}[/]" if d.get("healthy") else f"[red]{d.get('health', '-')}[/]"
            table.add_row(r.host, d.get("release") or "-", d.get("unit", "-"), health, str(d.get("releases", "-")),
                          output.escape(r.error or ""))  # fmt: skip
        output.console().print(table)
        output.console().print(output.summary_line(results, elapsed))
    bad = failed(results)
    if bad:
        raise Exit(f"flaskfleet: {len(bad)} of {len(results)} hosts not healthy: {', '.join(r.host for r in bad)}", 1)


def one_host(s: Settings, pattern: str | None, what: str) -> Host:
    """The single host ``pattern`` names, or ``Exit`` listing what it matched."""
    selected = select_hosts(s, pattern)
    if len(selected) != 1:
        names = ", ".join(h.name for h in selected[:10])
        raise Exit(
            f"flaskfleet: {what} needs exactly one host; {pattern or s.hosts!r} matches {len(selected)}: {names}"
        )
    return selected[0]


def open_strict(s: Settings, host: Host) -> Any:
    """An open strict connection to ``host``, or ``Exit`` with the reason (e.g. a changed key)."""
    try:
        return open_connection(host, connect(host, s.connect_timeout))
    except user_errors():
        raise  # already one line: the task says it
    except Exception as exc:
        raise Exit(f"flaskfleet: {host.name}: {describe_error(exc, s.connect_timeout)}") from None


@fleet_task(help={"lines": "how many journal lines per host (default 50)", "follow": "keep streaming (one host only)"})
def logs(
    c: Context,
    app_name: str | None = None,
    hosts: str | None = None,
    lines: str = "50",
    follow: bool = False,
    inventory: str | None = None,
) -> None:
    """Show the app units' journal on each host; --follow streams it from one host."""
    s = load_settings(c, app_name=app_name, inventory=inventory)
    lines = str(positive_int("lines", lines))
    if follow:
        host = one_host(s, hosts, "logs --follow")
        app = app_name_for(s, [host])
        conn = open_strict(s, host)
        units = contract.unit_pattern(app)
        stream_until_interrupted(conn, sudo_wrap(f"journalctl -u '{units}' -n {lines} --no-pager -f"))
        return
    selected = select_hosts(s, hosts)
    app = app_name_for(s, selected)
    command = f"journalctl -u '{contract.unit_pattern(app)}' -n {lines} --no-pager -o short-iso"
    results, elapsed = fan_out(s, selected, "logs", lambda fleet: fleet.sudo(command))
    finish(results, f"logs: {app}", elapsed, as_json=False)


def stream_until_interrupted(conn: Any, command: str) -> None:
    """Copy a remote command's output to stdout until it ends, or until Ctrl-C / SIGTERM / SIGHUP.

    NOTE: a bare channel with a pty and a short timeout, not ``conn.run``: on Ctrl-C the runner
    forwards the interrupt and then waits for the remote side, which may never answer; closing
    our pty hangs up the remote command instead. The signal handlers are installed here on
    purpose: a process started as a background job of a non-interactive shell inherits SIGINT
    as *ignored*, and ``--follow`` must still stop when it is asked to.
    """

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    stoppers = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {signum: signal.signal(signum, stop) for signum in stoppers}
    chan = conn.client.get_transport().open_session()
    try:
        chan.get_pty()
        chan.settimeout(0.5)
        chan.exec_command(command)
        while True:
            try:
                data = chan.recv(32768)
            except TimeoutError:
                continue
            if not data:
                break
            sys.stdout.write(data.decode("utf-8", errors="replace"))
            sys.stdout.flush()
    except KeyboardInterrupt:
        pass
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        chan.close()
        conn.close()


@fleet_task(help={"hosts": "pattern naming exactly one host"})
def ssh(c: Context, hosts: str | None = None, inventory: str | None = None) -> None:
    """Open an interactive shell on one host (same key and strict known_hosts as everything else)."""
    s = load_settings(c, inventory=inventory)
    host = one_host(s, hosts, "ssh")
    conn = open_strict(s, host)  # refuses unknown/changed keys with our explanation first
    if shutil.which("ssh"):
        conn.close()
        os.execvp("ssh", shell_command(host, s.connect_timeout))  # noqa: S606 - replaces this process with the user's shell session
    conn.shell()


def provision_vars(s: Settings, app: str, count: str | None, extra: Sequence[str] = ()) -> dict[str, Any]:
    """Variables for the provision role: app, state directory, and ``--count`` hosts in the default group."""
    variables: dict[str, Any] = {"provision_app": app, "provision_state_dir": str(s.state_dir)}
    if count is not None:
        number = positive_int("count", count)
        group = s.hosts if re.fullmatch(r"[A-Za-z0-9_-]+", s.hosts) else "web"
        variables["provision_hosts"] = [
            {"name": f"{app}-{group}", "group": group, "count": number, "published_ports": [80, 443]}
        ]
    return {**variables, **parse_extra_vars(extra)}


def hosts_play(c: Context, playbook: str, app_name: str | None, count: str | None, flags: PlaybookFlags) -> None:
    """Run the provision or teardown playbook for an app's hosts."""
    s = load_settings(c, app_name=app_name, inventory=flags.inventory)
    variables = provision_vars(s, app_name_for(s), count, flags.extra_vars)
    # NOTE: the playbook ends by re-reading this inventory; when it cannot be read (Docker not
    # running, a bad config), say so in one line before anything is created or removed.
    load_inventory(s)
    play(s, playbook, variables, flags.verbose)


@playbook_task(
    help={
        "count": "how many hosts in the default group (named <app>-<group>-N); default: the role's provision_hosts",
        "extra_vars": "KEY=VALUE for the playbook (repeatable), e.g. -x provision_provider=ec2",
    },
)
def provision(c: Context, app_name: str | None = None, count: str | None = None, *, flags: PlaybookFlags) -> None:
    """Create the fleet's hosts with the flaskfleet.cloud.provision playbook (records their host keys)."""
    hosts_play(c, "provision", app_name, count, flags)


@playbook_task()
def teardown(c: Context, app_name: str | None = None, *, flags: PlaybookFlags) -> None:
    """Remove the fleet's hosts and their known_hosts entries with the flaskfleet.cloud.teardown playbook."""
    hosts_play(c, "teardown", app_name, None, flags)


ns = Collection(hosts, run, put, get, deploy, rollback, status, logs, ssh, provision, teardown)
ns.configure({"flaskfleet": config_defaults()})
