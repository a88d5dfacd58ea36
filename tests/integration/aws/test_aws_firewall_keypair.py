"""ec2_firewall and ec2_keypair against moto_server: rules as a set, purge, idempotence by fingerprint."""

from __future__ import annotations

import subprocess

import pytest

pytestmark = pytest.mark.aws


def firewall(name, rules, **options):
    return {"flaskfleet.cloud.ec2_firewall": {"name": name, "rules": rules, **options}}


def group_rules(ec2, name) -> set:
    [group] = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": [name]}])["SecurityGroups"]
    return {
        (p["IpProtocol"], p.get("FromPort"), p.get("ToPort"), r["CidrIp"])
        for p in group["IpPermissions"]
        for r in p.get("IpRanges", [])
    }


def test_firewall_rules_idempotent_and_purged(play, ec2, name):
    web = [{"ports": [80, 443], "cidr_ip": ["0.0.0.0/0"]}, {"ports": [22], "cidr_ip": ["10.0.0.0/8"]}]
    proc, [created, again] = play([firewall(name, web), firewall(name, web)])
    assert proc.returncode == 0, proc.stdout
    assert created["changed"] is True and again["changed"] is False
    assert group_rules(ec2, name) == {
        ("tcp", 80, 80, "0.0.0.0/0"),
        ("tcp", 443, 443, "0.0.0.0/0"),
        ("tcp", 22, 22, "10.0.0.0/8"),
    }

    # Without purge an unlisted rule stays; with purge (the default) it goes.
    only_https = [{"ports": [443], "cidr_ip": ["0.0.0.0/0"]}]
    proc, [kept, purged] = play([firewall(name, only_https, purge_rules=False), firewall(name, only_https)])
    assert kept["changed"] is False
    assert purged["removed"] == ["tcp 22 from 10.0.0.0/8", "tcp 80 from 0.0.0.0/0"]
    assert group_rules(ec2, name) == {("tcp", 443, 443, "0.0.0.0/0")}

    proc, [gone, gone_again] = play([{"flaskfleet.cloud.ec2_firewall": {"name": name, "state": "absent"}}] * 2)
    assert gone["changed"] is True and gone_again["changed"] is False
    assert ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": [name]}])["SecurityGroups"] == []


def test_world_ssh_only_when_allowed(play, ec2, name):
    rules = [{"ports": [22], "cidr_ip": ["0.0.0.0/0"]}]
    proc, [result] = play([firewall(name, rules, allow_world_ssh=True)])
    assert proc.returncode == 0 and result["changed"] is True
    assert group_rules(ec2, name) == {("tcp", 22, 22, "0.0.0.0/0")}
    play([{"flaskfleet.cloud.ec2_firewall": {"name": name, "state": "absent"}}])


def test_firewall_check_mode_creates_nothing(play, ec2, name):
    proc, [result] = play([firewall(name, [{"ports": [80], "cidr_ip": ["10.1.0.0/16"]}])], check=True, diff=True)
    assert proc.returncode == 0 and result["changed"] is True and result["added"] == ["tcp 80 from 10.1.0.0/16"]
    assert ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": [name]}])["SecurityGroups"] == []


@pytest.mark.parametrize("key_type", ["ed25519", "rsa"])
def test_keypair_import_idempotent_by_fingerprint(play, ec2, name, tmp_path, key_type):
    keys = []
    for n in (1, 2):
        path = tmp_path / f"key{n}"
        subprocess.run(["ssh-keygen", "-q", "-t", key_type, "-N", "", "-f", str(path)], check=True)
        keys.append(f"{path}.pub")
    task = {"flaskfleet.cloud.ec2_keypair": {"name": name, "public_key_path": keys[0]}}
    proc, [first, second] = play([task, task])
    assert proc.returncode == 0, proc.stdout
    assert first["changed"] is True and second["changed"] is False
    [pair] = ec2.describe_key_pairs(KeyNames=[name])["KeyPairs"]
    assert pair["KeyFingerprint"] == first["key_fingerprint"] == second["key_fingerprint"]

    other = {"flaskfleet.cloud.ec2_keypair": {"name": name, "public_key_path": keys[1], "force": False}}
    proc, [refused] = play([other])
    assert proc.returncode == 2 and "exists with another key" in refused["msg"]
    assert ec2.describe_key_pairs(KeyNames=[name])["KeyPairs"][0]["KeyFingerprint"] == pair["KeyFingerprint"]

    del other["flaskfleet.cloud.ec2_keypair"]["force"]
    proc, [replaced, removed] = play([other, {"flaskfleet.cloud.ec2_keypair": {"name": name, "state": "absent"}}])
    assert replaced["changed"] is True and replaced["key_fingerprint"] != pair["KeyFingerprint"]
    assert removed["changed"] is True
    assert ec2.describe_key_pairs(Filters=[{"Name": "key-name", "Values": [name]}])["KeyPairs"] == []
