"""Unit tests for flaskfleet.cloud.azure_vm: exact-count arithmetic, rules, secure VM document."""

from __future__ import annotations

import base64

import pytest
import yaml
from ansible_collections.flaskfleet.cloud.plugins.modules import azure_vm

BASE = {
    "name": "web",
    "group": None,
    "app": "hello",
    "user": "azureuser",
    "tags": {"team": "ops", "flaskfleet.name": "spoofed"},
    "location": "westeurope",
    "vm_size": "Standard_B1s",
    "image": {"publisher": "Debian", "offer": "debian-12", "sku": "12-gen2", "version": "latest"},
    "ssh_public_key": "ssh-ed25519 AAAAkey t@x",
    "ssh_cidrs": ["203.0.113.7"],
    "rules": [{"ports": ["80", "8000-8010"], "cidrs": ["0.0.0.0/0"]}],
    "allow_world_ssh": False,
    "public_ip": False,
    "encryption_at_host": True,
    "disk_encryption_set_id": None,
    "os_disk_size": None,
}


def vm(name, created, **tags):
    return {"name": name, "tags": tags, "properties": {"timeCreated": created}}


def test_plan_count_deletes_oldest_first_then_by_name():
    vms = [vm("c", "2025-01-02"), vm("b", "2025-01-01"), vm("a", "2025-01-01")]
    assert azure_vm.plan_count(vms, 1) == (0, ["a", "b"])
    assert azure_vm.plan_count(vms, 5) == (2, [])
    assert azure_vm.plan_count(vms, 3) == (0, [])


def test_identity_without_app_never_takes_app_vms():
    params = dict(BASE, app=None)
    identity = {"flaskfleet.managed": "true", "flaskfleet.name": "web", "flaskfleet.group": "web"}
    mine, theirs = vm("m", "x", **identity), vm("t", "x", **identity, **{"flaskfleet.app": "hello"})
    assert azure_vm.ours([mine, theirs], params) == [mine]
    assert azure_vm.ours([mine, theirs], BASE) == [theirs]


def test_wanted_rules_normalise_and_refuse_world_ssh():
    assert azure_vm.wanted_rules(BASE) == [(("22",), "203.0.113.7/32"), (("80", "8000-8010"), "0.0.0.0/0")]
    for source in ("0.0.0.0/0", "*", "Internet", "::/0"):
        with pytest.raises(ValueError, match="refusing to open SSH to the whole internet"):
            azure_vm.wanted_rules(dict(BASE, ssh_cidrs=[source]))
    wide = dict(BASE, rules=[{"ports": ["1-1024"], "cidrs": ["0.0.0.0/0"]}])
    with pytest.raises(ValueError, match=r"tcp 1-1024 from 0.0.0.0/0"):
        azure_vm.wanted_rules(wide)
    assert azure_vm.wanted_rules(dict(wide, allow_world_ssh=True))[-1] == (("1-1024",), "0.0.0.0/0")
    with pytest.raises(ValueError, match="not a network"):
        azure_vm.wanted_rules(dict(BASE, ssh_cidrs=["10.0.0.300/8"]))
    with pytest.raises(ValueError, match="not a number"):
        azure_vm.wanted_rules(dict(BASE, rules=[{"ports": ["http"], "cidrs": ["10.0.0.0/8"]}]))


def test_current_rules_read_back_what_security_rules_write():
    rules = azure_vm.wanted_rules(BASE)
    nsg = {"properties": {"securityRules": azure_vm.security_rules(rules)}}
    assert azure_vm.current_rules(nsg) == rules


def test_vm_body_secure_defaults_and_identity_tags_win():
    body = azure_vm.vm_body(BASE, "web-1", "SUBNET", "NSG", "#cloud-config\n")
    props = body["properties"]
    assert body["tags"]["flaskfleet.name"] == "web" and body["tags"]["team"] == "ops"
    assert props["osProfile"]["linuxConfiguration"]["disablePasswordAuthentication"] is True
    assert "adminPassword" not in props["osProfile"]
    assert props["securityProfile"] == {"encryptionAtHost": True}
    nic = props["networkProfile"]["networkInterfaceConfigurations"][0]["properties"]
    assert nic["networkSecurityGroup"] == {"id": "NSG"} and nic["deleteOption"] == "Delete"
    assert "publicIPAddressConfiguration" not in nic["ipConfigurations"][0]["properties"]
    assert base64.b64decode(props["osProfile"]["customData"]) == b"#cloud-config\n"
    public = azure_vm.vm_body(dict(BASE, public_ip=True), "web-2", "S", "N", None)
    assert "customData" not in public["properties"]["osProfile"]
    ip = public["properties"]["networkProfile"]["networkInterfaceConfigurations"][0]["properties"]
    assert ip["ipConfigurations"][0]["properties"]["publicIPAddressConfiguration"]["name"] == "web-2-ip"


def test_host_key_cloud_config_installs_exactly_that_key():
    private, public = azure_vm.new_host_key()
    assert public.startswith("ssh-ed25519 ")
    config = yaml.safe_load(azure_vm.host_key_cloud_config(private, public))
    assert config["ssh_keys"] == {"ed25519_private": private.strip() + "\n", "ed25519_public": public}
    assert config["ssh_deletekeys"] is True and config["ssh_genkeytypes"] == []


def test_vms_template_loops_one_secure_vm_over_the_names():
    params = dict(BASE, public_ip=True)
    template = azure_vm.vms_template(params, "SUBNET", "NSG", with_custom_data=True)
    [resource] = template["resources"]
    assert resource["type"] == "Microsoft.Compute/virtualMachines"
    assert resource["copy"]["count"] == "[length(parameters('vmNames'))]"
    assert resource["name"] == resource["properties"]["osProfile"]["computerName"]
    assert resource["name"] == "[parameters('vmNames')[copyIndex()]]"
    profile = resource["properties"]["osProfile"]
    assert profile["customData"] == "[parameters('customData').values[copyIndex()]]"
    assert profile["linuxConfiguration"]["disablePasswordAuthentication"] is True
    assert resource["properties"]["securityProfile"]["encryptionAtHost"] is True
    [nic] = resource["properties"]["networkProfile"]["networkInterfaceConfigurations"]
    assert nic["name"] == "[format('{0}-nic', parameters('vmNames')[copyIndex()])]"
    pip = nic["properties"]["ipConfigurations"][0]["properties"]["publicIPAddressConfiguration"]
    assert pip["name"] == "[format('{0}-ip', parameters('vmNames')[copyIndex()])]"
    assert template["parameters"] == {"vmNames": {"type": "array"}, "customData": {"type": "secureObject"}}
    assert resource["tags"]["flaskfleet.name"] == "web"


def test_vms_template_without_custom_data_declares_no_such_parameter():
    template = azure_vm.vms_template(BASE, "SUBNET", "NSG", with_custom_data=False)
    [resource] = template["resources"]
    assert "customData" not in resource["properties"]["osProfile"]
    assert template["parameters"] == {"vmNames": {"type": "array"}}
    nic = resource["properties"]["networkProfile"]["networkInterfaceConfigurations"][0]
    assert "publicIPAddressConfiguration" not in nic["properties"]["ipConfigurations"][0]["properties"]
