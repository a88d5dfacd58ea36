#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2025, flaskfleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: docker_host
short_description: Local cloud hosts (unprivileged systemd and sshd containers) by exact count
version_added: 0.1.0
description:
  - Creates, lists, restarts and removes local hosts for flaskfleet's embedded C(docker) provider. A host is a
    container from the project's base image running systemd as PID 1 and sshd, started unprivileged, with its SSH
    port (and O(published_ports)) published on C(127.0.0.1) on free ports picked at creation and kept across
    restarts, so the host's known_hosts entry stays valid.
  - Hosts are identified by labels (C(flaskfleet.managed=true), C(flaskfleet.app), C(flaskfleet.name),
    C(flaskfleet.group), C(flaskfleet.user)) and named C(<name>-1) ... C(<name>-N), like instances of a cloud
    provider identified by tags. The P(flaskfleet.cloud.fleet#inventory) inventory plugin finds them by the same labels.
  - With O(state=present), O(count) is an exact count, as with cloud modules. Missing hosts are created
    concurrently, extra hosts are removed highest number first.
  - For each host the module returns the SSH host keys read from the container, so that the
    C(flaskfleet.cloud.provision) role can record them in the project's known_hosts file and every later
    connection can check host keys strictly.
  - Runs on the controller and talks to the Docker engine through the Docker SDK for Python (never the CLI).
extends_documentation_fragment:
  - flaskfleet.cloud.attributes
  - flaskfleet.cloud.docker
attributes:
  check_mode:
    support: full
    details: Reports the hosts that would be created or removed and whether the SSH key would be installed.
  diff_mode:
    support: full
    details: The diff lists the host names before and after.
  platform:
    platforms: posix
options:
  name:
    description:
      - Name prefix of the hosts. The hosts are the containers C(<name>-1) to C(<name>-<count>), whose host
        name is the same.
      - Container names are unique per Docker engine, so two apps on one engine need different names.
      - Letters, digits and C(-); at most 50 characters.
      - Required unless O(state=absent); with O(state=absent) and no O(name), every host of O(app) is removed.
    type: str
  app:
    description:
      - The application the hosts belong to (label C(flaskfleet.app)). Hosts are matched by O(app) and O(name).
      - The inventory plugin puts the hosts into the group C(app_<app>).
    type: str
    required: true
  group:
    description:
      - The inventory group of the hosts (label C(flaskfleet.group)), for example V(web).
      - Defaults to O(name).
    type: str
  count:
    description:
      - The exact number of hosts that should exist with O(state=present).
      - A whole number, V(0) or more; V(0) removes all hosts of O(name). Strings of digits (as templates
        produce) are accepted; anything else, such as V(1.5) or V(-1), is refused before anything is created.
      - Required with O(state=present), ignored otherwise.
    type: raw
  image:
    description:
      - The image hosts are created from. It must already exist in the engine; the module never pulls.
      - Existing hosts are not re-created when this changes.
    type: str
    default: flaskfleet/base:latest
  ssh_user:
    description:
      - The login user whose C(~/.ssh/authorized_keys) receives the public key. It must exist in the image.
    type: str
    default: admin
  ssh_public_key:
    description:
      - The SSH public key (one line, for example V(ssh-ed25519 AAAA... comment)) that may log in as O(ssh_user).
      - It is added to C(authorized_keys) of new and existing hosts when missing; other keys are left alone.
      - One of O(ssh_public_key) or O(ssh_public_key_file) is required with O(state=present).
    type: str
  ssh_public_key_file:
    description:
      - Path on the controller of the SSH public key file to install, for example V(.flaskfleet/id_ed25519.pub).
      - Mutually exclusive with O(ssh_public_key).
    type: path
  published_ports:
    description:
      - Container TCP ports to publish on C(127.0.0.1), each on a free port picked at creation (see
        RV(hosts[].published_ports)).
      - Port 22 is always published. Ports of an existing host cannot change; the module warns when they differ.
    type: list
    elements: int
    default: []
  state:
    description:
      - V(present) makes exactly O(count) hosts exist and run.
      - V(absent) removes every host of O(app) and O(name) (of O(app) when O(name) is not set).
      - V(restarted) restarts every host of O(app) and O(name) (always reports a change when there is one).
    type: str
    choices: [present, absent, restarted]
    default: present
  wait:
    description:
      - Wait until sshd on each host answers with its banner on the published SSH port.
      - Without waiting, new hosts may not have generated their SSH host keys yet, so RV(hosts[].host_keys) can
        be empty.
    type: bool
    default: true
  wait_timeout:
    description:
      - How many seconds to wait for sshd, for all hosts together (V(1) to V(3600)).
    type: int
    default: 120
seealso:
  - plugin: flaskfleet.cloud.fleet
    plugin_type: inventory
"""

EXAMPLES = r"""
- name: Make sure exactly two web hosts run for the hello app
  flaskfleet.cloud.docker_host:
    name: web
    app: hello
    group: web
    count: 2
    published_ports: [80, 443]
    ssh_public_key_file: "{{ playbook_dir }}/../.flaskfleet/id_ed25519.pub"
  delegate_to: localhost
  register: web_hosts

- name: Show where the hosts listen
  ansible.builtin.debug:
    msg: "{{ item.name }}: ssh port {{ item.ssh_port }}, http port {{ item.published_ports['80'] }}"
  loop: "{{ web_hosts.hosts }}"

- name: Record the host keys of the hosts
  ansible.builtin.known_hosts:
    name: "[{{ item.0.address }}]:{{ item.0.ssh_port }}"
    key: "[{{ item.0.address }}]:{{ item.0.ssh_port }} {{ item.1 }}"
    path: "{{ playbook_dir }}/../.flaskfleet/known_hosts"
  loop: "{{ web_hosts.hosts | subelements('host_keys') }}"
  delegate_to: localhost

- name: Scale the workers down to one (removes worker-3 and worker-2)
  flaskfleet.cloud.docker_host:
    name: worker
    app: hello
    count: 1
    ssh_public_key: "{{ lookup('ansible.builtin.file', 'id_ed25519.pub') }}"
  delegate_to: localhost

- name: Restart the web hosts
  flaskfleet.cloud.docker_host:
    name: web
    app: hello
    state: restarted
  delegate_to: localhost

- name: Remove all web hosts of the app
  flaskfleet.cloud.docker_host:
    name: web
    app: hello
    state: absent
  delegate_to: localhost

- name: Remove every host of the app, whatever its name
  flaskfleet.cloud.docker_host:
    app: hello
    state: absent
  delegate_to: localhost
"""

RETURN = r"""
hosts:
  description:
    - The hosts of O(app) and O(name) after the run, ordered by number. Empty after O(state=absent).
    - In check mode, the hosts that already exist (hosts that would be created are listed in RV(created)).
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Container name, host name and inventory host name.
      type: str
      sample: web-1
    address:
      description: Where to connect; published ports listen on the loopback address only.
      type: str
      sample: 127.0.0.1
    ssh_port:
      description: Port on RV(hosts[].address) that leads to the host's sshd.
      type: int
      sample: 32768
    published_ports:
      description: Container port (as a string) to the port on C(127.0.0.1) it is published on.
      type: dict
      sample: {"80": 32769, "443": 32770}
    host_keys:
      description:
        - The host's SSH public host keys (type and base64 key), ed25519 first.
        - Empty when O(wait=false) and sshd had not generated them yet.
      type: list
      elements: str
      sample: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG9v..."]
    container_id:
      description: The container's full id.
      type: str
      sample: 0f3c2b1d9e8a7f6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b
    state:
      description: The container's state.
      type: str
      sample: running
    group:
      description: The host's inventory group (label C(flaskfleet.group)).
      type: str
      sample: web
    app:
      description: The host's app (label C(flaskfleet.app)).
      type: str
      sample: hello
    user:
      description: The login user (label C(flaskfleet.user)).
      type: str
      sample: admin
created:
  description: Names of the hosts created (in check mode, that would be created).
  returned: always
  type: list
  elements: str
  sample: [web-2, web-3]
removed:
  description:
    - The hosts removed (in check mode, that would be removed), with the address and SSH port they had, so
      their known_hosts entries can be removed too.
  returned: always
  type: list
  elements: dict
  sample: [{"name": "web-3", "address": "127.0.0.1", "ssh_port": 32775}]
restarted:
  description: Names of the hosts restarted (in check mode, that would be restarted).
  returned: always
  type: list
  elements: str
  sample: []
"""

import os
import re

from ansible_collections.flaskfleet.cloud.plugins.module_utils._docker import (
    DockerException,
    DockerHostsError,
    DockerHostsModule,
    create_host,
    describe_host,
    ensure_image,
    list_host_summaries,
    remove_container,
    run_concurrently,
    sync_host,
    wait_for_ssh,
)
from ansible_collections.flaskfleet.cloud.plugins.module_utils._identity import (
    TAG_APP,
    TAG_GROUP,
    TAG_MANAGED,
    TAG_NAME,
    TAG_USER,
)

NAME_PATTERN = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,48}[A-Za-z0-9])?$")
PUBLIC_KEY_PATTERN = re.compile(r"^(ssh-[a-z0-9-]+|ecdsa-sha2-[a-z0-9-]+|sk-[a-z0-9@.-]+) [A-Za-z0-9+/=]+( .*)?$")
RESTART_STOP_TIMEOUT = 10


def plan_exact_count(existing, count: int) -> tuple:
    """``(to_create, to_remove)`` host numbers so that exactly ``count`` hosts remain.

    Missing hosts fill the lowest free numbers; extras go highest number first, so ``web-1`` is
    the last to go and names stay short and stable.
    """
    existing = sorted(set(existing))
    if len(existing) > count:
        return [], sorted(existing[count:], reverse=True)
    missing = count - len(existing)
    to_create, candidate = [], 1
    while len(to_create) < missing:
        if candidate not in existing:
            to_create.append(candidate)
        candidate += 1
    return to_create, []


def host_number(name: str, prefix: str):
    """The number N of a host called ``<prefix>-N``, or ``None`` for any other name."""
    match = re.match(r"^%s-([1-9][0-9]*)$" % re.escape(prefix), name)
    return int(match.group(1)) if match else None


def read_public_key(params: dict) -> str | None:
    """The public key to install, from ``ssh_public_key`` or ``ssh_public_key_file``; raise ValueError if unusable."""
    key, path = params.get("ssh_public_key"), params.get("ssh_public_key_file")
    if path:
        if not os.path.isfile(path):
            raise ValueError(
                "ssh_public_key_file %s does not exist: create a key pair (make setup creates "
                ".flaskfleet/id_ed25519.pub) or point ssh_public_key_file at an existing public key" % path
            )
        with open(path, encoding="utf-8", errors="replace") as handle:
            key = handle.read()
    if key is None:
        return None
    key = key.strip()
    where = "ssh_public_key_file %s" % path if path else "ssh_public_key"
    if "\n" in key or not PUBLIC_KEY_PATTERN.match(key):
        raise ValueError(
            "%s does not hold one SSH public key (expected one line like 'ssh-ed25519 AAAA... comment')" % where
        )
    return key


def parse_count(value):
    """``count`` as an int; raise ValueError unless it is a whole number (``2``, ``2.0``, ``"2"``)."""
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.match(r"^\s*-?[0-9]+\s*$", value):
        return int(value)
    raise ValueError("count must be a whole number of hosts, 0 or more (got %r)" % (value,))


def check_params(params: dict) -> list:
    """Every problem with the parameters, as one-line messages (empty when all is well)."""
    problems = []
    try:
        params["count"] = parse_count(params.get("count"))
    except ValueError as exc:
        problems.append(str(exc))
        params["count"] = None
    if params.get("name") is not None and not NAME_PATTERN.match(params["name"]):
        problems.append(
            "name %r is not a valid host name: use letters, digits and '-', at most 50 (e.g. web)" % params["name"]
        )
    for option in ("app", "group", "ssh_user"):
        value = params.get(option)
        if value is not None and (not value.strip() or any(ch.isspace() for ch in value)):
            problems.append("%s %r must be a non-empty word without spaces" % (option, value))
    if params["state"] == "present" and params.get("count") is not None and params["count"] < 0:
        problems.append("count must be 0 or more (got %d): it is the exact number of hosts to keep" % params["count"])
    bad_ports = [port for port in params["published_ports"] or [] if not 1 <= port <= 65535]
    if bad_ports:
        problems.append(
            "published_ports must be TCP ports between 1 and 65535 (got %s)" % ", ".join(map(str, bad_ports))
        )
    if not 1 <= params["wait_timeout"] <= 3600:
        problems.append("wait_timeout must be between 1 and 3600 seconds (got %d)" % params["wait_timeout"])
    return problems


class DockerHostFleet:
    """The hosts of one app and name prefix: observe them, decide, act, report."""

    def __init__(self, module: DockerHostsModule, public_key: str | None) -> None:
        self.module = module
        self.params = module.params
        self.name = self.params["name"]
        self.group = self.params["group"] or self.name or ""
        self.public_key = public_key
        self.ports = sorted(set(self.params["published_ports"] or []) - {22})
        self.result = dict(changed=False, hosts=[], created=[], removed=[], restarted=[])

    # -- observe ---------------------------------------------------------------------------------
    def existing(self) -> dict:
        """``{number: summary}`` of this name's hosts; warns about labelled containers with other names."""
        found = {}
        summaries = list_host_summaries(self.module.client, app=self.params["app"], name=self.name)
        for summary in summaries:
            host = describe_host(summary)
            number = host_number(host["name"], self.name)
            if number is None:
                self.module.warn(
                    "container %s carries the labels of %s but not its name; left alone" % (host["name"], self.name)
                )
            else:
                found[number] = summary
        return found

    def foreign_names(self, numbers) -> list:
        """Names we would create that another container (not ours) already uses."""
        wanted = {"%s-%d" % (self.name, number) for number in numbers}
        taken = []
        for summary in self.module.client.api.containers(all=True, filters={"name": self.name}):
            if describe_host(summary)["name"] in wanted:
                taken.append(describe_host(summary)["name"])
        return sorted(taken)

    # -- decide ----------------------------------------------------------------------------------
    def present(self) -> dict:
        """Make exactly ``count`` hosts exist and run, with the key installed and sshd answering."""
        existing = self.existing()
        to_create, to_remove = plan_exact_count(existing, self.params["count"])
        self.preflight(to_create)
        kept = {number: summary for number, summary in existing.items() if number not in to_remove}
        self.warn_drift(kept)
        after = sorted(set(kept) | set(to_create))
        self.set_diff(sorted(existing), after)
        self.result["created"] = ["%s-%d" % (self.name, number) for number in to_create]
        self.result["removed"] = [self.removed_entry(existing[number]) for number in to_remove]
        stopped = [summary["Id"] for summary in kept.values() if summary.get("State") != "running"]
        self.result["changed"] = bool(to_create or to_remove or stopped)
        if self.module.check_mode:
            self.result["hosts"] = self.finish(kept.values(), wait=False)
            return self.result
        self.remove([existing[number]["Id"] for number in to_remove])
        new_ids = self.create(to_create)
        self.start(stopped)
        self.result["hosts"] = self.finish(self.refreshed(), wait=self.params["wait"], new_ids=new_ids + stopped)
        return self.result

    def absent(self) -> dict:
        """Remove every host of this app and name (any number)."""
        summaries = list_host_summaries(self.module.client, app=self.params["app"], name=self.name)
        self.set_diff(sorted(describe_host(s)["name"] for s in summaries), [])
        self.result["removed"] = [self.removed_entry(summary) for summary in summaries]
        self.result["changed"] = bool(summaries)
        if not self.module.check_mode:
            self.remove([summary["Id"] for summary in summaries])
        return self.result

    def restarted(self) -> dict:
        """Restart every host of this app and name, then wait for sshd again."""
        existing = self.existing()
        self.result["restarted"] = ["%s-%d" % (self.name, number) for number in sorted(existing)]
        self.result["changed"] = bool(existing)
        if self.module.check_mode:
            self.result["hosts"] = self.finish(existing.values(), wait=False)
            return self.result
        self.each(
            "restart",
            lambda cid: self.module.client.api.restart(cid, timeout=RESTART_STOP_TIMEOUT),
            [s["Id"] for s in existing.values()],
        )
        self.result["hosts"] = self.finish(
            self.refreshed(), wait=self.params["wait"], new_ids=[s["Id"] for s in existing.values()]
        )
        return self.result

    def preflight(self, to_create) -> None:
        """Refuse before creating anything: missing image, names taken by other containers."""
        if not to_create:
            return
        try:
            ensure_image(self.module.client, self.params["image"])
        except DockerHostsError as exc:
            self.module.fail_json(msg=str(exc))
        taken = self.foreign_names(to_create)
        if taken:
            self.module.fail_json(
                msg="container name(s) %s already used by containers that are not hosts of app %s: choose another name "
                "or remove them" % (", ".join(taken), self.params["app"])
            )

    def warn_drift(self, kept: dict) -> None:
        """Existing hosts keep their ports and group: say so when the request differs."""
        for number in sorted(kept):
            host = describe_host(kept[number])
            have = sorted(int(port) for port in host["published_ports"])
            if host["state"] == "running" and have != self.ports:
                self.module.warn(
                    "%s publishes %s but published_ports is %s: ports of an existing host cannot change; "
                    "remove it (state=absent) to re-create it" % (host["name"], have, self.ports)
                )
            if host["group"] != self.group:
                self.module.warn(
                    "%s is in group %s, not %s: groups of existing hosts are not changed"
                    % (host["name"], host["group"], self.group)
                )

    # -- act -------------------------------------------------------------------------------------
    def labels(self) -> dict:
        """The labels of a new host (the contract in docs/architecture.md)."""
        return {
            TAG_MANAGED: "true",
            TAG_APP: self.params["app"],
            TAG_GROUP: self.group,
            TAG_NAME: self.name,
            TAG_USER: self.params["ssh_user"],
        }

    def create(self, numbers) -> list:
        """Create hosts concurrently; if any fails, remove the ones this run created and fail."""
        client, labels = self.module.client, self.labels()

        def create_one(number):
            return create_host(client, "%s-%d" % (self.name, number), self.params["image"], labels, self.ports)

        outcomes = run_concurrently(create_one, numbers)
        created = [container_id for _number, container_id, error in outcomes if error is None]
        failed = [(number, error) for number, _result, error in outcomes if error is not None]
        if failed:
            self.remove(created)
            number, error = failed[0]
            self.module.fail_docker(
                error,
                "could not create %s-%d (removed the %d host(s) this run had created)"
                % (self.name, number, len(created)),
            )
        return created

    def remove(self, container_ids) -> None:
        """Remove containers concurrently."""
        self.each("remove", lambda cid: remove_container(self.module.client, cid), container_ids)

    def start(self, container_ids) -> None:
        """Start stopped hosts."""
        self.each("start", self.module.client.api.start, container_ids)

    def each(self, verb: str, func, container_ids) -> None:
        """Run ``func`` on every container concurrently; fail on the first error."""
        for container_id, _result, error in run_concurrently(func, container_ids):
            if error is not None:
                self.module.fail_docker(error, "could not %s container %s" % (verb, container_id[:12]))

    def refreshed(self) -> list:
        """The current summaries of this name's hosts, ordered by number (one API call)."""
        current = self.existing()
        return [current[number] for number in sorted(current)]

    def finish(self, summaries, wait: bool, new_ids=()) -> list:
        """Wait for sshd (new or restarted hosts), install the key, read host keys; return host dicts."""
        hosts = [describe_host(summary) for summary in summaries]
        running = [host for host in hosts if host["state"] == "running" and host["ssh_port"]]
        if wait:
            self.wait_for([host for host in running if host["container_id"] in set(new_ids)])
        outcomes = run_concurrently(self.sync, running)
        by_id = {host["container_id"]: (result, error) for host, result, error in outcomes}
        for host in hosts:
            result, error = by_id.get(host["container_id"], ((False, []), None))
            if error is not None:
                self.module.fail_docker(error, "could not set up SSH access on %s" % host["name"])
            changed, host["host_keys"] = result
            self.result["changed"] |= changed
        return hosts

    def sync(self, host: dict) -> tuple:
        """Install the key (unless check mode) and read the host keys of one running host."""
        return sync_host(
            self.module.client,
            host["container_id"],
            host["user"] or self.params["ssh_user"],
            self.public_key,
            self.module.check_mode,
        )

    def wait_for(self, hosts) -> None:
        """Wait (bounded by ``wait_timeout`` for all together) until every host's sshd answers."""
        timeout = self.params["wait_timeout"]
        outcomes = run_concurrently(lambda host: wait_for_ssh(host["ssh_port"], timeout), hosts, workers=16)
        late = [host for host, answered, _error in outcomes if not answered]
        if late:
            names = ", ".join("%s (127.0.0.1:%s)" % (host["name"], host["ssh_port"]) for host in late)
            self.module.fail_json(
                msg="sshd did not answer within %d s on %s: see `docker logs %s`" % (timeout, names, late[0]["name"])
            )

    # -- report ----------------------------------------------------------------------------------
    @staticmethod
    def removed_entry(summary: dict) -> dict:
        """What a removed host leaves behind to clean up: its name and where its known_hosts entry points."""
        host = describe_host(summary)
        return {"name": host["name"], "address": host["address"], "ssh_port": host["ssh_port"]}

    def set_diff(self, before_numbers_or_names, after_numbers) -> None:
        """``diff`` with the host names before and after."""

        def names(items):
            return sorted(item if isinstance(item, str) else "%s-%d" % (self.name, item) for item in items)

        self.result["diff"] = {
            "before": {"hosts": names(before_numbers_or_names)},
            "after": {"hosts": names(after_numbers)},
        }


def run_module(module: DockerHostsModule) -> dict:
    """Check the parameters, then ensure the requested state."""
    problems = check_params(module.params)
    if problems:
        module.fail_json(msg="; ".join(problems))
    public_key = None
    if module.params["state"] != "absent":
        try:
            public_key = read_public_key(module.params)
        except ValueError as exc:
            module.fail_json(msg=str(exc))
    fleet = DockerHostFleet(module, public_key)
    return getattr(fleet, module.params["state"])()


def main() -> None:
    """Entry point: build the module, run it, turn Docker errors into one-line failures."""
    module = DockerHostsModule(
        argument_spec=dict(
            name=dict(type="str"),
            app=dict(type="str", required=True),
            group=dict(type="str"),
            count=dict(type="raw"),
            image=dict(type="str", default="flaskfleet/base:latest"),
            ssh_user=dict(type="str", default="admin"),
            ssh_public_key=dict(type="str"),
            ssh_public_key_file=dict(type="path"),
            published_ports=dict(type="list", elements="int", default=[]),
            state=dict(type="str", default="present", choices=["present", "absent", "restarted"]),
            wait=dict(type="bool", default=True),
            wait_timeout=dict(type="int", default=120),
        ),
        mutually_exclusive=[("ssh_public_key", "ssh_public_key_file")],
        required_if=[
            ("state", "present", ("name", "count")),
            ("state", "restarted", ("name",)),
            ("state", "present", ("ssh_public_key", "ssh_public_key_file"), True),
        ],
        supports_check_mode=True,
    )
    try:
        module.exit_json(**run_module(module))
    except (DockerException, DockerHostsError) as exc:
        module.fail_docker(exc, "Docker request failed")


if __name__ == "__main__":
    main()
