"""One inventory for Ansible and Fabric: read it with ``ansible-inventory``, resolve patterns, connect.

The inventory is whatever Ansible reads (a ``*.fleet.yml`` plugin config, static YAML or INI), so
both front ends always see the same hosts. Host patterns follow Ansible's rules
(https://docs.ansible.com/ansible/latest/inventory_guide/intro_patterns.html): ``web``,
``web:&prod``, ``web:!db``, ``host1,host2``, ``all``/``*``, globs ``web-*`` and regexes ``~web-[12]``.
Each :class:`Host` names the key and the known_hosts file (the host's ``flaskfleet_known_hosts_file``,
which the fleet inventory sets beside the ``ansible_ssh_common_args`` it gives Ansible, or the
project's) that :mod:`flaskfleet.ssh` connects with.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class InventoryError(Exception):
    """The inventory cannot be read or a pattern matches nothing; the message says what to fix."""


@dataclass(frozen=True)
class Host:
    """One inventory host and what we need to reach it over SSH."""

    name: str
    address: str
    port: int = 22
    user: str | None = None
    key_file: str | None = None
    known_hosts: str | None = None
    groups: tuple[str, ...] = ()
    vars: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def endpoint(self) -> str:
        """``address`` or ``[address]:port``, as it appears in known_hosts."""
        return self.address if self.port == 22 else f"[{self.address}]:{self.port}"

    @property
    def destination(self) -> str:
        """``user@address`` (or ``address``), as ``ssh`` and ``scp`` name the host."""
        return f"{self.user}@{self.address}" if self.user else self.address

    def public(self) -> dict[str, Any]:
        """What ``invoke hosts --json`` shows for this host."""
        return {
            "name": self.name,
            "address": self.address,
            "port": self.port,
            "user": self.user,
            "groups": list(self.groups),
            "provider": self.vars.get("flaskfleet_provider"),
            "app": self.vars.get("flaskfleet_app"),
            "url": self.http_url,
        }

    @property
    def http_url(self) -> str:
        """Where the host serves HTTP: a local host's published port 80 on 127.0.0.1, else its address."""
        published = self.vars.get("flaskfleet_published_ports") or {}
        port = published.get("80") or published.get(80)
        return f"http://127.0.0.1:{port}/" if port else f"http://{self.address}/"


def _natural_key(name: str) -> list[Any]:
    """Sort ``web-2`` before ``web-10``."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def ansible_inventory_binary() -> str:
    """``ansible-inventory`` next to our interpreter (the venv) or on PATH."""
    beside = Path(sys.executable).parent / "ansible-inventory"
    if beside.exists():
        return str(beside)
    found = shutil.which("ansible-inventory")
    if not found:
        raise InventoryError("ansible-inventory not found; install ansible-core in this environment")
    return found


def _last_error_line(stderr: str) -> str:
    """The most telling line of ansible-inventory's stderr: the plugin's own reason when there is one."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    # NOTE: with unparsed_is_failed the last [ERROR] is only "No inventory was parsed"; the reason
    # is in the warning of the plugin that claimed the file (auto delegates to ours).
    for line in lines:
        match = re.search(r"Failed to parse inventory with '(?:auto|flaskfleet\.cloud\.fleet)' plugin: (.+)", line)
        if match:
            return match.group(1)
    for line in lines:
        if line.startswith(("ERROR", "[ERROR]")) and "No inventory was parsed" not in line:
            return line
    for line in lines:
        if "WARNING" in line and ("Unable to parse" in line or "Failed to parse" in line):
            return line
    return lines[-1] if lines else "no output"


def unwrap(value: Any) -> Any:
    """Strip ansible-core's ``{"__ansible_unsafe": value}`` markers from ``--list`` output.

    NOTE: since ansible-core 2.19 ``ansible-inventory --list`` tags untrusted strings this way;
    we only read the values.
    """
    if isinstance(value, dict):
        if len(value) == 1 and "__ansible_unsafe" in value:
            return unwrap(value["__ansible_unsafe"])
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    return value


def read_inventory_json(source: str, timeout: float = 120) -> dict[str, Any]:
    """Run ``ansible-inventory -i SOURCE --list`` and return its JSON.

    :raises InventoryError: missing source, Ansible failing to parse it, or no hosts at all.
    """
    if "," not in source and not Path(source).exists():
        raise InventoryError(f"inventory {source} not found; create it or pass --inventory PATH")
    cmd = [ansible_inventory_binary(), "-i", source, "--list"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise InventoryError(f"ansible-inventory -i {source} did not answer within {timeout:.0f} s") from exc
    # NOTE: ansible-inventory exits 0 with an empty inventory when it cannot parse a source, so the
    # warning on stderr is the only sign; treat "unable to parse" as fatal.
    if proc.returncode != 0 or "Unable to parse" in proc.stderr or "Failed to parse" in proc.stderr:
        hint = ""
        if "specifies unknown plugin 'flaskfleet.cloud." in proc.stderr:
            hint = "; install the collection first (scripts/install-collection.sh)"
        raise InventoryError(f"cannot read inventory {source}: {_last_error_line(proc.stderr)}{hint}")
    try:
        return unwrap(json.loads(proc.stdout))
    except json.JSONDecodeError as exc:
        raise InventoryError(f"ansible-inventory -i {source} printed no JSON: {exc}") from exc


def split_pattern(pattern: str) -> list[str]:
    """Split a host pattern into terms: on commas when there are any, else on colons outside ``[]``.

    This is Ansible's rule; it keeps ``web[1:3]`` whole.
    """
    pattern = (pattern or "").strip()
    if "," in pattern:
        return [t.strip() for t in pattern.split(",") if t.strip()]
    terms, depth, current = [], 0, ""
    for char in pattern:
        depth += {"[": 1, "]": -1}.get(char, 0)
        if char == ":" and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += char
    terms.append(current)
    return [t.strip() for t in terms if t.strip()]


class Inventory:
    """Hosts and groups of an Ansible inventory, with Ansible's pattern rules."""

    def __init__(self, data: dict[str, Any], default_known_hosts: str | None = None, default_key: str | None = None):
        """Build from ``ansible-inventory --list`` output.

        :param default_known_hosts: known_hosts to use when a host's ssh args name none.
        :param default_key: private key to use when a host names none.
        """
        self._data = data
        self._default_known_hosts = default_known_hosts
        self._default_key = default_key
        self.groups: dict[str, list[str]] = {}
        self._resolve_group("all", set())
        hostvars = data.get("_meta", {}).get("hostvars", {})
        for name in self.groups.get("all", []):
            hostvars.setdefault(name, {})
        member_of: dict[str, list[str]] = {}
        for group, members in self.groups.items():
            for host in members:
                member_of.setdefault(host, []).append(group)
        self.hosts: dict[str, Host] = {
            name: self._host(name, hostvars[name], member_of.get(name, []))
            for name in sorted(hostvars, key=_natural_key)
        }

    @classmethod
    def load(cls, source: str, default_known_hosts: str | None = None, default_key: str | None = None) -> Inventory:
        """Read an inventory source the way Ansible does."""
        return cls(read_inventory_json(source), default_known_hosts, default_key)

    def _resolve_group(self, group: str, seen: set[str]) -> list[str]:
        """All hosts of ``group`` including its children's (cycle safe), memoised in ``groups``."""
        if group in self.groups:
            return self.groups[group]
        if group in seen:
            return []
        seen.add(group)
        entry = self._data.get(group, {})
        members = list(entry.get("hosts", []))
        for child in entry.get("children", []):
            members.extend(self._resolve_group(child, seen))
        unique = sorted(dict.fromkeys(members), key=_natural_key)
        self.groups[group] = unique
        return unique

    def _host(self, name: str, hostvars: dict[str, Any], groups: list[str]) -> Host:
        """A :class:`Host` from its hostvars."""
        known_hosts = hostvars.get("flaskfleet_known_hosts_file") or self._default_known_hosts
        key_file = hostvars.get("ansible_ssh_private_key_file") or hostvars.get("ansible_private_key_file")
        return Host(
            name=name,
            address=str(hostvars.get("ansible_host", name)),
            port=int(hostvars.get("ansible_port") or hostvars.get("ansible_ssh_port") or 22),
            user=hostvars.get("ansible_user") or hostvars.get("ansible_ssh_user"),
            key_file=str(key_file) if key_file else self._default_key,
            known_hosts=known_hosts,
            groups=tuple(sorted(g for g in groups if g != "all")),
            vars=dict(hostvars),
        )

    def _match_term(self, term: str) -> list[str]:
        """Hosts matched by one pattern term (no ``&``/``!`` prefix)."""
        if term in ("all", "*"):
            return list(self.hosts)
        if term in self.groups:
            return list(self.groups[term])
        if term in self.hosts:
            return [term]
        subscript = re.fullmatch(r"(.+)\[(-?\d+)(?::(-?\d*))?\]", term)
        if subscript and subscript.group(1) in self.groups:
            return self._subscript(subscript)
        if term.startswith("~"):
            regex = re.compile(term[1:])
            matcher = regex.match
        else:
            matcher = re.compile(fnmatch.translate(term)).match
        names = [h for h in self.hosts if matcher(h)]
        for group, members in self.groups.items():
            if matcher(group):
                names.extend(members)
        return list(dict.fromkeys(names))

    def _subscript(self, match: re.Match[str]) -> list[str]:
        """``group[0]`` and ``group[1:3]`` (inclusive end, as in Ansible)."""
        members = self.groups[match.group(1)]
        start = int(match.group(2))
        if match.group(3) is None:
            return members[start : start + 1] if start != -1 else members[-1:]
        end = int(match.group(3)) if match.group(3) else len(members) - 1
        return members[start : end + 1]

    def select(self, pattern: str) -> list[Host]:
        """Hosts matching an Ansible host pattern, in inventory order.

        Union terms first, then ``&`` intersections, then ``!`` exclusions, as Ansible does.

        :raises InventoryError: when a term matches nothing or the result is empty.
        """
        terms = split_pattern(pattern)
        if not self.hosts:
            raise InventoryError("the inventory has no hosts; provision some (invoke provision) or check its source")
        if not terms:
            raise InventoryError("empty host pattern; pass -H PATTERN (e.g. web, all, web:&prod)")
        selected: list[str] = []
        intersections: list[set[str]] = []
        exclusions: set[str] = set()
        for term in terms:
            kind, name = (term[0], term[1:]) if term[0] in "&!" else ("", term)
            matched = self._match_term(name)
            if not matched and kind != "!":
                raise InventoryError(
                    f"host pattern {name!r} matches no host or group in the inventory; "
                    f"groups: {', '.join(sorted(g for g in self.groups if g != 'ungrouped')) or 'none'}"
                )
            if kind == "&":
                intersections.append(set(matched))
            elif kind == "!":
                exclusions.update(matched)
            else:
                selected.extend(matched)
        chosen = [h for h in dict.fromkeys(selected) if all(h in s for s in intersections) and h not in exclusions]
        if not chosen:
            raise InventoryError(f"host pattern {pattern!r} leaves no hosts after its & and ! terms")
        return [self.hosts[name] for name in sorted(chosen, key=_natural_key)]
