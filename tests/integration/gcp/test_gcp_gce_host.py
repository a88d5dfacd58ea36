"""gce_host against the fake Compute Engine API through ansible-playbook and the installed collection."""

from __future__ import annotations

import re

import pytest
from gcefake import PROJECT, Fault

pytestmark = pytest.mark.gcp

LABEL_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
LABEL_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")


def host_task(name, **options):
    """A gce_host task for ``name`` (group web, app t-gcp)."""
    args = {"name": name, "group": "web", "app": "t-gcp", **options}
    return {"name": "hosts", "flaskfleet.cloud.gce_host": args, "register": "result"}


def names(gce, name):
    return sorted(d["name"] for d in gce.instances(name))


def test_exact_count_idempotent_scale_down_absent(play, gce, name):
    """0 -> 5 in ONE bulkInsert, 5 again unchanged, 3 deletes the 2 oldest, absent leaves none."""
    gce.reset()
    proc, [first] = play([host_task(name, count=5)])
    assert proc.returncode == 0, proc.stdout
    assert first["changed"] is True and sorted(first["created"]) == [f"{name}-{n}" for n in range(1, 6)]
    assert len(first["instances"]) == 5 and {i["status"] for i in first["instances"]} == {"RUNNING"}
    assert gce.count("instances.bulkInsert") == 1
    assert names(gce, name) == [f"{name}-{n}" for n in range(1, 6)]

    gce.reset()
    proc, [second] = play([host_task(name, count=5)])
    assert proc.returncode == 0 and second["changed"] is False
    assert second["created"] == [] and second["deleted"] == []
    assert gce.mutating() == []

    oldest = sorted(gce.instances(name), key=lambda d: (d["creationTimestamp"], d["name"]))
    proc, [third] = play([host_task(name, count=3)])
    assert proc.returncode == 0 and third["changed"] is True
    assert third["deleted"] == [d["name"] for d in oldest[:2]]
    assert names(gce, name) == sorted(d["name"] for d in oldest[2:])

    proc, [fourth] = play([host_task(name, count=5)])
    assert sorted(fourth["created"]) == sorted(d["name"] for d in oldest[:2]), "lowest free numbers are reused"

    proc, [fifth, again] = play([host_task(name, state="absent")] * 2)
    assert proc.returncode == 0 and fifth["changed"] is True and len(fifth["deleted"]) == 5
    assert again["changed"] is False
    assert gce.instances(name) == []


def test_check_mode_and_diff_change_nothing(play, gce, name):
    """--check --diff reports what would be created/deleted; the fake records no mutating call."""
    gce.reset()
    proc, [result] = play([host_task(name, count=2, ssh_cidrs=["10.0.0.0/8"])], check=True, diff=True)
    assert proc.returncode == 0 and result["changed"] is True
    assert result["created"] == [f"{name}-1", f"{name}-2"] and result["firewall"] == "created"
    assert result["diff"]["before"]["count"] == 0 and result["diff"]["after"]["count"] == 2
    assert gce.mutating() == [] and gce.instances(name) == []
    assert set(gce.methods()) == {"instances.list", "firewalls.get"}

    play([host_task(name, count=2)])
    oldest = min(gce.instances(name), key=lambda d: (d["creationTimestamp"], d["name"]))
    gce.reset()
    proc, [result] = play([host_task(name, count=1)], check=True, diff=True)
    assert result["changed"] is True and result["deleted"] == [oldest["name"]]
    assert result["diff"]["after"]["count"] == 1
    assert gce.mutating() == [] and len(gce.instances(name)) == 2
    play([host_task(name, state="absent")])


def test_calls_do_not_grow_with_count(play, gce, name, figure):
    """Creating 100 hosts costs at most 5 more API calls than creating 1 (in fact the same)."""
    calls = {}
    for count in (1, 100):
        gce.reset()
        proc, [result] = play([host_task(f"{name}-{count}", count=count)])
        assert proc.returncode == 0 and len(result["created"]) == count, proc.stdout
        calls[count] = gce.methods()
    figure(f"GCE API calls: 1 host -> {len(calls[1])} {calls[1]}; 100 hosts -> {len(calls[100])} {calls[100]}")
    assert len(calls[100]) <= len(calls[1]) + 5
    assert calls[1].count("instances.bulkInsert") == calls[100].count("instances.bulkInsert") == 1
    for count in (1, 100):
        gce.reset()
        proc, [result] = play([host_task(f"{name}-{count}", state="absent")])
        assert proc.returncode == 0 and len(result["deleted"]) == count
        assert gce.count("instances.delete") == count and gce.count("instances.list") <= 3
    figure(f"GCE API calls to delete 100 hosts: {gce.count()} (one delete each, in parallel, and list polls)")


def test_secure_defaults_in_the_requests(play, gce, name):
    """No external IP, shielded VM, OS Login, valid labels and a firewall rule only for the given networks."""
    gce.reset()
    proc, [result] = play([host_task(name, count=2, group="Web.Tier", ssh_cidrs=["203.0.113.0/24"])])
    assert proc.returncode == 0, proc.stdout
    [body] = gce.bodies("instances.bulkInsert")
    props = body["instanceProperties"]
    assert body["count"] == body["minCount"] == "2"
    assert all(not nic.get("accessConfigs") for nic in props["networkInterfaces"])
    assert props["shieldedInstanceConfig"] == {
        "enableSecureBoot": True,
        "enableVtpm": True,
        "enableIntegrityMonitoring": True,
    }
    metadata = {item["key"]: item["value"] for item in props["metadata"]["items"]}
    assert metadata["enable-oslogin"] == "TRUE" and "ssh-keys" not in metadata
    assert metadata["enable-guest-attributes"] == "TRUE"
    assert "serviceAccounts" not in props
    labels = props["labels"]
    assert all(LABEL_KEY.match(k) and LABEL_VALUE.match(v) for k, v in labels.items()), labels
    assert labels["flaskfleet-group"] == "web-tier" and labels["flaskfleet-app"] == "t-gcp"
    assert labels["flaskfleet-managed"] == "true" and labels["flaskfleet-name"] == name
    [rule] = gce.bodies("firewalls.insert")
    assert rule["sourceRanges"] == ["203.0.113.0/24"] and rule["targetTags"] == [name]
    assert rule["allowed"] == [{"IPProtocol": "tcp", "ports": ["22"]}]
    assert all(i["public_ip_address"] is None for i in result["instances"])

    proc, [again] = play([host_task(name, count=2, group="Web.Tier", ssh_cidrs=["203.0.113.0/24"])])
    assert again["changed"] is False and again["firewall"] == "unchanged"
    play([host_task(name, group="Web.Tier", state="absent")])
    assert gce.firewall(f"{name}-ssh", PROJECT) is None


def test_explicit_opt_outs_and_key_metadata(play, gce, name):
    """public_ip, shielded_vm=false and an SSH key are honoured when asked for; world SSH needs allow_world_ssh."""
    gce.reset()
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExampleKeyOnlyForTests deploy@example"
    task = host_task(
        name, public_ip=True, shielded_vm=False, ssh_public_key=key, ssh_cidrs=["0.0.0.0/0"], allow_world_ssh=True
    )
    proc, [result] = play([task])
    assert proc.returncode == 0, proc.stdout
    props = gce.bodies("instances.bulkInsert")[0]["instanceProperties"]
    assert props["networkInterfaces"][0]["accessConfigs"] == [{"name": "External NAT", "type": "ONE_TO_ONE_NAT"}]
    assert props["shieldedInstanceConfig"]["enableSecureBoot"] is False
    metadata = {item["key"]: item["value"] for item in props["metadata"]["items"]}
    assert metadata["ssh-keys"] == f"admin:{key}" and metadata["block-project-ssh-keys"] == "TRUE"
    assert metadata["enable-oslogin"] == "FALSE"
    assert result["instances"][0]["public_ip_address"]
    assert gce.firewall(f"{name}-ssh", PROJECT)["sourceRanges"] == ["0.0.0.0/0"]
    play([host_task(name, state="absent")])


def test_host_keys_from_guest_attributes(play, gce, name):
    """read_host_keys returns each instance's keys from getGuestAttributes(hostkeys/)."""
    gce.reset()
    proc, [result] = play([host_task(name, count=2, read_host_keys=True)])
    assert proc.returncode == 0, proc.stdout
    assert gce.count("instances.getGuestAttributes") == 2
    for instance in result["instances"]:
        assert any(k.startswith("ssh-ed25519 AAAA") for k in instance["host_keys"])
    play([host_task(name, state="absent")])


@pytest.mark.parametrize("status", [429, 503])
def test_throttling_survived(play, gce, name, status):
    """Throttling on every kind of call (3 answers each) is retried with backoff; the run succeeds."""
    gce.reset(
        Fault(status, "instances.list", times=3),
        Fault(status, "instances.bulkInsert", times=3),
        Fault(status, "zoneOperations.wait", times=2),
    )
    proc, [result] = play([host_task(name, count=3)])
    assert proc.returncode == 0, proc.stdout
    assert len(result["created"]) == 3 and len(gce.instances(name)) == 3
    assert gce.count("instances.bulkInsert") == 4  # 3 throttled + the one that went through
    gce.reset(Fault(status, "instances.delete", times=3))
    proc, [result] = play([host_task(name, state="absent")])
    assert proc.returncode == 0 and gce.instances(name) == []
