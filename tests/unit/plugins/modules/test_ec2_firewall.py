"""Unit tests for flaskfleet.cloud.ec2_firewall: rule parsing, set comparison, world-SSH check."""

from __future__ import annotations

import pytest
from ansible_collections.flaskfleet.cloud.plugins.modules import ec2_firewall as fw


def rule(**kw):
    base = {"proto": "tcp", "ports": [], "cidr_ip": [], "cidr_ipv6": [], "source_groups": []}
    base.update(kw)
    return base


def test_parse_ports():
    assert fw.parse_ports([22, "80", "8000-8010"]) == [(22, 22), (80, 80), (8000, 8010)]
    for bad, message in (("x", "not a number"), ("9-1", "low to high"), ("70000", "within 0-65535")):
        with pytest.raises(ValueError, match=message):
            fw.parse_ports([bad])


def test_parse_cidr_normalises_and_checks_family():
    assert fw.parse_cidr("10.1.2.3/8", 4) == "10.0.0.0/8"
    with pytest.raises(ValueError, match="put it in cidr_ipv6"):
        fw.parse_cidr("::/0", 4)
    with pytest.raises(ValueError, match="is not an IPv4 network"):
        fw.parse_cidr("10.0.0.300/8", 4)


def test_wanted_rules_and_world_ssh():
    rules = fw.wanted_rules(
        [
            rule(ports=[80, 443], cidr_ip=["0.0.0.0/0"]),
            rule(ports=[22], cidr_ip=["10.0.0.0/8"], source_groups=["bastion"]),
            rule(proto="icmp", cidr_ip=["10.0.0.0/8"]),
        ],
        {"bastion": "sg-b"},
    )
    assert rules == {
        ("tcp", 80, 80, "cidr", "0.0.0.0/0"),
        ("tcp", 443, 443, "cidr", "0.0.0.0/0"),
        ("tcp", 22, 22, "cidr", "10.0.0.0/8"),
        ("tcp", 22, 22, "group", "sg-b"),
        ("icmp", -1, -1, "cidr", "10.0.0.0/8"),
    }
    assert not any(fw.world_ssh(r) for r in rules)
    assert fw.world_ssh(("tcp", 20, 30, "cidr", "0.0.0.0/0"))
    assert fw.world_ssh(("all", None, None, "cidr6", "::/0"))
    assert not fw.world_ssh(("udp", 22, 22, "cidr", "0.0.0.0/0"))
    assert not fw.world_ssh(("tcp", 23, 80, "cidr", "0.0.0.0/0"))


def test_permissions_round_trip_through_the_api_shape():
    rules = {
        ("tcp", 80, 80, "cidr", "0.0.0.0/0"),
        ("tcp", 80, 80, "cidr6", "::/0"),
        ("tcp", 22, 22, "group", "sg-b"),
        ("all", None, None, "cidr", "10.0.0.0/8"),
    }
    permissions = fw.to_permissions(rules)
    assert len(permissions) == 3
    assert fw.current_rules({"IpPermissions": permissions}) == rules
    assert fw.describe_rule(("all", None, None, "cidr", "10.0.0.0/8")) == "all all ports from 10.0.0.0/8"
    assert fw.describe_rule(("tcp", 8000, 8010, "group", "sg-b")) == "tcp 8000-8010 from sg-b"


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (rule(ports=[80]), "rule 1 has no source"),
        (rule(cidr_ip=["10.0.0.0/8"]), "rule 1 (tcp) needs ports"),
    ],
)
def test_wanted_rules_rejects_incomplete_rules(bad, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        fw.wanted_rules([bad], {})
