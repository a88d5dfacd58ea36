#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: flaskfleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: ec2_firewall
short_description: An EC2 security group with exactly the inbound rules you list
version_added: 0.1.0
description:
  - Creates, updates or deletes an EC2 security group found by name in a VPC.
  - Inbound rules are compared as a set; missing rules are added in one
    C(AuthorizeSecurityGroupIngress) call, and with O(purge_rules) rules that are not listed are
    removed in one C(RevokeSecurityGroupIngress) call. Running it again changes nothing.
  - Refuses to open port 22 to the whole internet (C(0.0.0.0/0) or C(::/0)) unless
    O(allow_world_ssh=true).
  - Outbound rules are left as they are (AWS allows all outbound traffic by default).
extends_documentation_fragment:
  - flaskfleet.cloud.attributes
  - flaskfleet.cloud.aws
options:
  name:
    description: Name of the security group.
    type: str
    required: true
  description:
    description:
      - Description of the group, used when it is created (AWS cannot change it later).
      - Defaults to C(flaskfleet security group NAME).
    type: str
  vpc_id:
    description:
      - The VPC of the group. Defaults to the region's default VPC.
    type: str
  state:
    description: V(present) creates or updates the group, V(absent) deletes it.
    type: str
    choices: [present, absent]
    default: present
  rules:
    description: The inbound rules.
    type: list
    elements: dict
    default: []
    suboptions:
      proto:
        description: Protocol; V(all) means every protocol and port.
        type: str
        choices: [tcp, udp, icmp, all]
        default: tcp
      ports:
        description:
          - Ports (C(443)) or ranges (C(8000-8100)). Required for V(tcp) and V(udp);
            ignored for V(icmp) and V(all).
        type: list
        elements: str
        default: []
      cidr_ip:
        description: IPv4 source networks, for example C(10.0.0.0/16) or C(203.0.113.7/32).
        type: list
        elements: str
        default: []
      cidr_ipv6:
        description: IPv6 source networks.
        type: list
        elements: str
        default: []
      source_groups:
        description: Source security groups (ids C(sg-...) or names in the same VPC).
        type: list
        elements: str
        default: []
  purge_rules:
    description: Remove inbound rules that are not in O(rules).
    type: bool
    default: true
  allow_world_ssh:
    description:
      - Allow a rule that opens TCP port 22 (or all ports) to C(0.0.0.0/0) or C(::/0).
      - Off by default; prefer your own address range or a bastion.
    type: bool
    default: false
  tags:
    description: Tags of the group (added or updated, never removed).
    type: dict
    default: {}
seealso:
  - module: flaskfleet.cloud.ec2_host
"""

EXAMPLES = r"""
- name: Web hosts take HTTP(S) from anywhere and SSH from the office only
  flaskfleet.cloud.ec2_firewall:
    name: hello-web
    region: eu-west-1
    rules:
      - ports: [80, 443]
        cidr_ip: [0.0.0.0/0]
        cidr_ipv6: ["::/0"]
      - ports: [22]
        cidr_ip: [203.0.113.0/24]
  register: web_firewall

- name: App hosts only accept traffic from the web group
  flaskfleet.cloud.ec2_firewall:
    name: hello-app
    region: eu-west-1
    rules:
      - ports: [8000-8010]
        source_groups: [hello-web]

- name: A throwaway lab host reachable by SSH from anywhere (explicit opt-in)
  flaskfleet.cloud.ec2_firewall:
    name: lab
    region: eu-west-1
    allow_world_ssh: true
    rules:
      - ports: [22]
        cidr_ip: [0.0.0.0/0]

- name: Delete the group
  flaskfleet.cloud.ec2_firewall:
    name: lab
    region: eu-west-1
    state: absent
"""

RETURN = r"""
group_id:
  description: Id of the security group (null when absent).
  returned: always
  type: str
  sample: sg-0123456789abcdef0
vpc_id:
  description: VPC of the group.
  returned: always
  type: str
  sample: vpc-0123456789abcdef0
rules:
  description: The inbound rules after the run, one line each (protocol, ports, source).
  returned: always
  type: list
  elements: str
  sample: ["tcp 22 from 203.0.113.0/24", "tcp 80 from 0.0.0.0/0"]
added:
  description: Rules added (or that would be, in check mode).
  returned: always
  type: list
  elements: str
  sample: ["tcp 443 from 0.0.0.0/0"]
removed:
  description: Rules removed (or that would be, in check mode).
  returned: always
  type: list
  elements: str
  sample: []
"""

import ipaddress

from ansible_collections.flaskfleet.cloud.plugins.module_utils._aws import (
    AWSError,
    FleetAWSModule,
    aws_error_handler,
    dict_to_tags,
    tags_to_dict,
    to_filters,
)
from ansible_collections.flaskfleet.cloud.plugins.module_utils._world_ssh import (
    WORLD_NETWORKS,
    opens_port_22,
    refuse_world_ssh,
)

PROTO_NUMBERS = {"6": "tcp", "17": "udp", "1": "icmp", "-1": "all"}

# A rule is a tuple (proto, from_port, to_port, kind, source) with kind in cidr/cidr6/group.


def parse_ports(ports):
    """``["80", "8000-8010"]`` -> ``[(80, 80), (8000, 8010)]``; ``ValueError`` says what is wrong."""
    result = []
    for item in ports:
        text = str(item).strip()
        low, sep, high = text.partition("-")
        try:
            pair = (int(low), int(high if sep else low))
        except ValueError:
            raise ValueError("port %r is not a number or a range like 8000-8010" % text) from None
        if not (0 <= pair[0] <= pair[1] <= 65535):
            raise ValueError("port range %r must be within 0-65535, low to high" % text)
        result.append(pair)
    return result


def parse_cidr(text, version):
    """A normalised network string, or ``ValueError`` naming the bad value."""
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise ValueError("%r is not an IPv%d network like %s" % (text, version, WORLD_NETWORKS[version == 6])) from None
    if network.version != version:
        option = "cidr_ipv6" if network.version == 6 else "cidr_ip"
        raise ValueError("%s is an IPv%d network: put it in %s" % (text, network.version, option))
    return str(network)


def wanted_rules(rules, group_ids):
    """The set of rule tuples for the ``rules`` option (group names already mapped to ids)."""
    wanted = set()
    for number, rule in enumerate(rules, start=1):
        proto = rule["proto"]
        if proto in ("tcp", "udp"):
            if not rule["ports"]:
                raise ValueError("rule %d (%s) needs ports, for example [443]" % (number, proto))
            ranges = parse_ports(rule["ports"])
        else:
            ranges = [(None, None) if proto == "all" else (-1, -1)]
        sources = [("cidr", parse_cidr(c, 4)) for c in rule["cidr_ip"]]
        sources += [("cidr6", parse_cidr(c, 6)) for c in rule["cidr_ipv6"]]
        sources += [("group", group_ids[g]) for g in rule["source_groups"]]
        if not sources:
            raise ValueError("rule %d has no source: give cidr_ip, cidr_ipv6 or source_groups" % number)
        for low, high in ranges:
            wanted.update((proto, low, high, kind, source) for kind, source in sources)
    return wanted


def world_ssh(rule):
    """Does this rule tuple open SSH (tcp/22) to the whole internet?"""
    proto, low, high, kind, source = rule
    opens_22 = proto == "all" or (proto == "tcp" and opens_port_22(low, high))
    return kind in ("cidr", "cidr6") and source in WORLD_NETWORKS and opens_22


def current_rules(group):
    """The set of rule tuples of an existing group (from DescribeSecurityGroups)."""
    rules = set()
    for perm in group.get("IpPermissions", []):
        proto = PROTO_NUMBERS.get(perm["IpProtocol"], perm["IpProtocol"])
        low, high = (None, None) if proto == "all" else (perm.get("FromPort"), perm.get("ToPort"))
        rules.update((proto, low, high, "cidr", r["CidrIp"]) for r in perm.get("IpRanges", []))
        rules.update((proto, low, high, "cidr6", r["CidrIpv6"]) for r in perm.get("Ipv6Ranges", []))
        rules.update((proto, low, high, "group", p["GroupId"]) for p in perm.get("UserIdGroupPairs", []))
    return rules


def to_permissions(rules):
    """Rule tuples -> ``IpPermissions`` for one authorize/revoke call."""
    by_ports = {}
    for proto, low, high, kind, source in sorted(rules, key=describe_rule):
        perm = by_ports.setdefault((proto, low, high), {"IpProtocol": "-1" if proto == "all" else proto})
        if proto != "all":
            perm.update(FromPort=low, ToPort=high)
        if kind == "cidr":
            perm.setdefault("IpRanges", []).append({"CidrIp": source})
        elif kind == "cidr6":
            perm.setdefault("Ipv6Ranges", []).append({"CidrIpv6": source})
        else:
            perm.setdefault("UserIdGroupPairs", []).append({"GroupId": source})
    return list(by_ports.values())


def describe_rule(rule):
    """One readable line for a rule tuple, e.g. ``tcp 8000-8010 from 10.0.0.0/16``."""
    proto, low, high, _kind, source = rule
    if proto == "all":
        ports = "all ports"
    elif low == high:
        ports = str(low)
    else:
        ports = "%s-%s" % (low, high)
    return "%s %s from %s" % (proto, ports, source)


# --- tiny API wrappers ---------------------------------------------------------------------


@aws_error_handler("find the default VPC")
def default_vpc(client):
    """Id of the region's default VPC."""
    vpcs = client.describe_vpcs(Filters=to_filters({"isDefault": "true"}))["Vpcs"]
    if not vpcs:
        raise AWSError("this region has no default VPC: set vpc_id")
    return vpcs[0]["VpcId"]


@aws_error_handler("describe security groups")
def find_groups(client, vpc_id, names):
    """Groups in ``vpc_id`` with one of ``names`` (one call)."""
    filters = to_filters({"vpc-id": vpc_id, "group-name": names})
    return client.describe_security_groups(Filters=filters)["SecurityGroups"]


@aws_error_handler("create the security group")
def create_group(client, name, description, vpc_id, tags):
    """Create the group; returns its id."""
    kwargs = dict(GroupName=name, Description=description, VpcId=vpc_id)
    if tags:
        kwargs["TagSpecifications"] = [{"ResourceType": "security-group", "Tags": dict_to_tags(tags)}]
    return client.create_security_group(**kwargs)["GroupId"]


@aws_error_handler("delete the security group")
def delete_group(client, group_id):
    """Delete the group."""
    client.delete_security_group(GroupId=group_id)


@aws_error_handler("add inbound rules")
def authorize(client, group_id, rules):
    """Add all ``rules`` in one call."""
    client.authorize_security_group_ingress(GroupId=group_id, IpPermissions=to_permissions(rules))


@aws_error_handler("remove inbound rules")
def revoke(client, group_id, rules):
    """Remove all ``rules`` in one call."""
    client.revoke_security_group_ingress(GroupId=group_id, IpPermissions=to_permissions(rules))


@aws_error_handler("tag the security group")
def tag_group(client, group_id, tags):
    """Add or update ``tags``."""
    client.create_tags(Resources=[group_id], Tags=dict_to_tags(tags))


# --- the module ----------------------------------------------------------------------------


class Firewall:
    """Observe one security group, decide, act, report."""

    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.client = module.client("ec2")
        self.vpc_id = self.params["vpc_id"] or default_vpc(self.client)
        self.result = dict(changed=False, group_id=None, vpc_id=self.vpc_id, rules=[], added=[], removed=[])

    def source_group_ids(self):
        """Map every ``source_groups`` entry to a group id (names looked up in one call)."""
        entries = set(g for rule in self.params["rules"] for g in rule["source_groups"])
        mapping = dict((g, g) for g in entries if g.startswith("sg-"))
        names = sorted(entries - set(mapping))
        if names:
            found = dict((g["GroupName"], g["GroupId"]) for g in find_groups(self.client, self.vpc_id, names))
            found.setdefault(self.params["name"], "sg-(this group)")
            missing = [n for n in names if n not in found]
            if missing:
                raise AWSError("source group %s does not exist in %s" % (", ".join(missing), self.vpc_id))
            mapping.update((n, found[n]) for n in names)
        return mapping

    def wanted(self):
        """The rule set to enforce; refuses world-open SSH unless allowed."""
        try:
            rules = wanted_rules(self.params["rules"], self.source_group_ids())
        except ValueError as e:
            raise AWSError("invalid rules: %s" % e) from None
        try:
            refuse_world_ssh((describe_rule(r) for r in rules if world_ssh(r)), self.params["allow_world_ssh"])
        except ValueError as e:
            raise AWSError(str(e)) from None
        return rules

    def run(self):
        """Ensure the group's state; returns the module result."""
        found = find_groups(self.client, self.vpc_id, [self.params["name"]])
        group = found[0] if found else None
        if self.params["state"] == "absent":
            return self.absent(group)
        return self.present(group)

    def absent(self, group):
        """Delete the group if it exists."""
        if group is None:
            return self.result
        self.result.update(changed=True, removed=sorted(describe_rule(r) for r in current_rules(group)))
        self.result["diff"] = {"before": {"group": group["GroupId"]}, "after": {}}
        if not self.module.check_mode:
            delete_group(self.client, group["GroupId"])
        return self.result

    def present(self, group):
        """Create the group if needed and make its inbound rules match."""
        wanted = self.wanted()
        current = current_rules(group) if group else set()
        add = wanted - current
        remove = (current - wanted) if self.params["purge_rules"] else set()
        tags = self.params["tags"]
        retag = group is not None and any(tags_to_dict(group.get("Tags")).get(k) != str(v) for k, v in tags.items())
        after = (current | add) - remove
        self.result.update(
            changed=bool(group is None or add or remove or retag),
            group_id=group["GroupId"] if group else None,
            rules=sorted(describe_rule(r) for r in after),
            added=sorted(describe_rule(r) for r in add),
            removed=sorted(describe_rule(r) for r in remove),
        )
        self.result["diff"] = {
            "before": {"rules": sorted(describe_rule(r) for r in current)} if group else {},
            "after": {"rules": self.result["rules"]},
        }
        if self.module.check_mode:
            return self.result
        group_id = self.result["group_id"] or self.create()
        if add:
            authorize(self.client, group_id, self.resolve_self(add, group_id))
        if remove:
            revoke(self.client, group_id, remove)
        if retag:
            tag_group(self.client, group_id, tags)
        return self.result

    def create(self):
        """Create the group and remember its id."""
        description = self.params["description"] or "flaskfleet security group %s" % self.params["name"]
        self.result["group_id"] = create_group(
            self.client, self.params["name"], description, self.vpc_id, self.params["tags"]
        )
        return self.result["group_id"]

    @staticmethod
    def resolve_self(rules, group_id):
        """A group may name itself as a source before it exists; put in its real id."""
        return set((*r[:4], group_id) if r[4] == "sg-(this group)" else r for r in rules)


def argument_spec():
    """The options of this module (the common AWS ones are added by FleetAWSModule)."""
    rule = dict(
        proto=dict(type="str", default="tcp", choices=["tcp", "udp", "icmp", "all"]),
        ports=dict(type="list", elements="str", default=[]),
        cidr_ip=dict(type="list", elements="str", default=[]),
        cidr_ipv6=dict(type="list", elements="str", default=[]),
        source_groups=dict(type="list", elements="str", default=[]),
    )
    return dict(
        name=dict(type="str", required=True),
        description=dict(type="str"),
        vpc_id=dict(type="str"),
        state=dict(type="str", default="present", choices=["present", "absent"]),
        rules=dict(type="list", elements="dict", default=[], options=rule),
        purge_rules=dict(type="bool", default=True),
        allow_world_ssh=dict(type="bool", default=False),
        tags=dict(type="dict", default={}),
    )


def main():
    """Entry point: parse, run, report."""
    module = FleetAWSModule(argument_spec(), supports_check_mode=True)
    try:
        firewall = Firewall(module)
        module.exit_json(**firewall.run())
    except AWSError as e:
        module.fail_json(msg=str(e))


if __name__ == "__main__":
    main()
