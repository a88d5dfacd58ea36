"""Unit tests for flaskfleet.cloud.gce_host: exact-count arithmetic, names, the secure bulkInsert request."""

from __future__ import annotations

from types import SimpleNamespace

from ansible_collections.flaskfleet.cloud.plugins.modules import gce_host

BASE = {
    "name": "hello-web",
    "group": "Web",
    "app": "Hello",
    "user": "admin",
    "state": "present",
    "labels": {"team": "blue"},
    "network": "default",
    "subnetwork": None,
    "public_ip": False,
    "shielded_vm": True,
    "os_login": None,
    "ssh_public_key": None,
    "ssh_cidrs": [],
    "machine_type": "e2-small",
    "disk_type": "pd-balanced",
    "disk_size_gb": None,
    "zone": "europe-west1-b",
}


def instance(name, created):
    return SimpleNamespace(name=name, creation_timestamp=created)


def test_plan_count_deletes_oldest_first():
    found = [
        instance("w-3", "2026-01-01T10:00:02"),
        instance("w-1", "2026-01-01T10:00:01"),
        instance("w-2", "2026-01-01T10:00:01"),
    ]
    assert gce_host.plan_count(found, 5) == (2, [])
    assert gce_host.plan_count(found, 3) == (0, [])
    assert gce_host.plan_count(found, 1) == (0, ["w-1", "w-2"])
    assert gce_host.plan_count(found, 0) == (0, ["w-1", "w-2", "w-3"])


def test_free_names_fill_gaps():
    assert gce_host.free_names("web", ["web-2", "web-4"], 3) == ["web-1", "web-3", "web-5"]
    assert gce_host.free_names("web", [], 0) == []


def test_bulk_request_secure_defaults():
    request = gce_host.bulk_request(BASE, "p", "projects/debian-cloud/global/images/debian-12-x", ["hello-web-1"])
    body = request["bulk_insert_instance_resource_resource"]
    assert body["count"] == body["min_count"] == 1 and list(body["per_instance_properties"]) == ["hello-web-1"]
    props = body["instance_properties"]
    assert "access_configs" not in props["network_interfaces"][0]
    assert set(props["shielded_instance_config"].values()) == {True}
    assert {"key": "enable-oslogin", "value": "TRUE"} in props["metadata"]["items"]
    assert "service_accounts" not in props
    assert props["labels"] == {
        "team": "blue",
        "flaskfleet-user": "admin",
        "flaskfleet-managed": "true",
        "flaskfleet-name": "hello-web",
        "flaskfleet-group": "web",
        "flaskfleet-app": "hello",
    }


def test_key_metadata_blocks_project_keys():
    params = dict(BASE, ssh_public_key="ssh-ed25519 AAAA me\n")
    items = {i["key"]: i["value"] for i in gce_host.metadata_items(params)}
    assert items == {
        "enable-oslogin": "FALSE",
        "enable-guest-attributes": "TRUE",
        "ssh-keys": "admin:ssh-ed25519 AAAA me",
        "block-project-ssh-keys": "TRUE",
    }


def test_firewall_only_when_networks_given():
    assert gce_host.wanted_firewall(BASE) is None
    rule = gce_host.wanted_firewall(dict(BASE, ssh_cidrs=["10.0.0.0/8"]))
    assert rule["source_ranges"] == ["10.0.0.0/8"] and rule["target_tags"] == ["hello-web"]
    assert rule["allowed"] == [{"I_p_protocol": "tcp", "ports": ["22"]}]
    assert gce_host.wanted_firewall(dict(BASE, ssh_cidrs=["10.0.0.0/8"], state="absent")) is None
