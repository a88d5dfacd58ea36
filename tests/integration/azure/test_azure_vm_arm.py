"""azure_vm against the fake ARM endpoint through ansible-playbook and the installed collection."""

from __future__ import annotations

import base64

import pytest
import yaml
from armfake import Fault
from azureplay import KEY, vm_task

pytestmark = pytest.mark.azure
PER_VM_CALLS = ("PUT virtualMachines", "GET virtualMachines", "GET operations")


def test_exact_count_idempotent_scale_down_absent(play, arm, name):
    """0 -> 5 (changed) -> 5 (unchanged) -> 3 (two oldest deleted) -> 0, all against ARM's state."""
    arm.reset()
    proc, [first] = play([vm_task(name, count=5)])
    assert proc.returncode == 0, proc.stdout
    assert first["changed"] is True and len(first["created"]) == 5 and len(first["vms"]) == 5
    assert arm.count("PUT virtualMachines") == 5
    assert sorted(v["name"] for v in arm.vms(name)) == sorted(first["created"])
    assert all(v["private_ip_address"].startswith("10.42.0.") for v in first["vms"])

    arm.reset()
    proc, [second] = play([vm_task(name, count=5)])
    assert proc.returncode == 0 and second["changed"] is False
    assert second["created"] == [] and second["deleted"] == [] and arm.mutating() == []

    before = sorted(arm.vms(name), key=lambda v: (v["properties"]["timeCreated"], v["name"]))
    proc, [third] = play([vm_task(name, count=3)])
    assert proc.returncode == 0 and third["changed"] is True
    assert third["deleted"] == [v["name"] for v in before[:2]]
    assert sorted(v["name"] for v in arm.vms(name)) == sorted(v["name"] for v in before[2:])
    assert arm.resource("networkInterfaces", before[0]["name"] + "-nic") is None

    proc, [fourth] = play([vm_task(name, state="absent")])
    assert proc.returncode == 0 and fourth["changed"] is True and len(fourth["deleted"]) == 3
    assert arm.vms(name) == []
    proc, [fifth] = play([vm_task(name, state="absent")])
    assert proc.returncode == 0 and fifth["changed"] is False


def test_check_mode_and_diff_change_nothing(play, arm, name):
    """--check --diff reports what would be created and deleted; ARM sees no PUT/DELETE."""
    arm.reset()
    proc, [result] = play([vm_task(name, count=2)], check=True, diff=True)
    assert proc.returncode == 0 and result["changed"] is True, proc.stdout
    assert result["created"] == ["new-1", "new-2"]
    assert result["diff"]["before"]["count"] == 0 and result["diff"]["after"]["count"] == 2
    assert arm.mutating() == [] and arm.vms(name) == []

    play([vm_task(name, count=2)])
    arm.reset()
    proc, [result] = play([vm_task(name, count=1)], check=True, diff=True)
    assert result["changed"] is True and len(result["deleted"]) == 1
    assert result["diff"]["after"]["count"] == 1
    assert arm.mutating() == [] and len(arm.vms(name)) == 2
    play([vm_task(name, state="absent")])


def test_api_calls_do_not_grow_with_count_beyond_one_put_per_vm(play, arm, name, figure):
    """100 VMs cost the same lists and lookups as 1 VM; the only extra calls are each VM's own PUT
    and its long-running operation (polled in parallel)."""
    arm.cores_limit = 10000
    calls = {}
    try:
        for count in (1, 100):
            arm.reset()
            proc, [result] = play([vm_task(f"{name}-{count}", count=count)])
            assert proc.returncode == 0 and len(result["created"]) == count, proc.stdout
            with arm.lock:
                recorded = list(arm.calls)
            fixed = [c for c in recorded if c not in PER_VM_CALLS]
            calls[count] = (len(recorded), fixed, recorded.count("PUT virtualMachines"))
    finally:
        arm.cores_limit = 100
    figure(
        f"Azure API calls: 1 VM -> {calls[1][0]} ({len(calls[1][1])} not per VM); "
        f"100 VMs -> {calls[100][0]} ({len(calls[100][1])} not per VM); per VM: PUT + LRO polls + final GET"
    )
    assert calls[1][2] == 1 and calls[100][2] == 100
    assert sorted(calls[100][1]) == sorted(calls[1][1])
    # Each VM: its PUT, the operation's polls (InProgress ``arm.polls`` times, then Succeeded), one final GET.
    assert calls[100][0] - calls[1][0] == 99 * (1 + arm.polls + 1 + 1)
    for count in (1, 100):
        arm.reset()
        proc, _ = play([vm_task(f"{name}-{count}", state="absent")])
        assert proc.returncode == 0 and arm.count("DELETE virtualMachines") == count


def test_secure_defaults_from_the_recorded_requests(play, arm, name):
    """Key-only login, no public IP, SSH only from the given network, encryption at host, and a host
    key the module made, as sent to ARM; each weaker setting only when asked for."""
    arm.reset()
    proc, [secure, relaxed] = play(
        [
            vm_task(name, count=1),
            vm_task(
                name + "-relaxed",
                count=1,
                public_ip=True,
                encryption_at_host=False,
                ssh_cidrs=["0.0.0.0/0"],
                allow_world_ssh=True,
                resource_group=f"rg-{name}",
            ),
        ]
    )
    assert proc.returncode == 0, proc.stdout
    strict_body, relaxed_body = arm.bodies["PUT virtualMachines"]
    props = strict_body["properties"]
    linux = props["osProfile"]["linuxConfiguration"]
    assert linux["disablePasswordAuthentication"] is True
    assert "adminPassword" not in props["osProfile"]
    assert [k["keyData"] for k in linux["ssh"]["publicKeys"]] == [KEY]
    assert props["securityProfile"]["encryptionAtHost"] is True
    [nic] = props["networkProfile"]["networkInterfaceConfigurations"]
    assert "publicIPAddressConfiguration" not in nic["properties"]["ipConfigurations"][0]["properties"]
    assert props["storageProfile"]["osDisk"]["deleteOption"] == "Delete"
    assert secure["vms"][0]["public_ip_address"] is None and secure["vms"][0]["password_authentication"] is False

    nsg = arm.bodies["PUT networkSecurityGroups"][0]["properties"]["securityRules"]
    assert [(r["properties"]["sourceAddressPrefix"], r["properties"]["destinationPortRanges"]) for r in nsg] == [
        ("203.0.113.0/24", ["22"])
    ]

    cloud_config = yaml.safe_load(base64.b64decode(props["osProfile"]["customData"]))
    vm_name = secure["created"][0]
    assert cloud_config["ssh_keys"]["ed25519_public"] == secure["host_keys"][vm_name]
    assert cloud_config["ssh_deletekeys"] is True
    assert "customData" not in arm.vms(name)[0]["properties"]["osProfile"]  # ARM never returns it

    rprops = relaxed_body["properties"]
    assert rprops["securityProfile"]["encryptionAtHost"] is False
    assert rprops["networkProfile"]["networkInterfaceConfigurations"][0]["properties"]["ipConfigurations"][0][
        "properties"
    ]["publicIPAddressConfiguration"]["sku"] == {"name": "Standard"}
    assert relaxed["vms"][0]["public_ip_address"]
    play([vm_task(name, state="absent"), vm_task(name + "-relaxed", state="absent", resource_group=f"rg-{name}")])


def test_world_open_ssh_is_refused_without_a_call(play, arm, name):
    """SSH from 0.0.0.0/0 without allow_world_ssh: one line, nothing sent to ARM."""
    arm.reset()
    proc, [result] = play([vm_task(name, ssh_cidrs=["0.0.0.0/0"])])
    assert proc.returncode != 0 and result["failed"] is True
    assert result["msg"].startswith("refusing to open SSH to the whole internet (tcp 22 from 0.0.0.0/0)")
    assert "\n" not in result["msg"] and arm.calls == []


def test_throttling_is_survived(play, arm, name):
    """429 and 503 with Retry-After on the list and on VM creations: the SDK retries, the run succeeds."""
    arm.reset(
        Fault(503, "ServerBusy", call="GET virtualMachines.list", times=1, retry_after=1),
        Fault(429, "TooManyRequests", call="PUT virtualMachines", times=2, retry_after=1),
        Fault(429, "TooManyRequests", call="GET operations", times=1, retry_after=1),
    )
    proc, [result] = play([vm_task(name, count=3)])
    assert proc.returncode == 0, proc.stdout
    assert arm.injected == 4
    assert len(result["created"]) == 3 and len(arm.vms(name)) == 3
    arm.reset()
    play([vm_task(name, state="absent")])


@pytest.mark.parametrize(
    ("options", "extra", "expected"),
    [
        ({"location": "moon-1"}, {}, "NoRegisteredProviderFound"),
        (
            {"image": {"sku": "no-such-sku"}},
            {},
            "the image does not exist in this location: check image",
        ),
        ({"count": 500}, {}, "quota exceeded: 500 more vCPUs (500 x Standard_B1s) would pass the limit of 100"),
        ({"vm_size": "Standard_Huge"}, {}, "VM size Standard_Huge does not exist in westeurope"),
        ({}, {"AZURE_SECRET": ""}, "no Azure credentials: secret not set"),
        ({}, {"AZURE_SECRET": "wrong"}, "no usable Azure credentials"),
        ({}, {"AZURE_SUBSCRIPTION_ID": ""}, "no Azure subscription given"),
        ({}, {"AZURE_BASE_URL": "https://127.0.0.1:9"}, "cannot reach the Azure endpoint"),
    ],
    ids=["location", "image", "quota", "size", "no-secret", "bad-secret", "no-subscription", "unreachable"],
)
def test_bad_input_one_line_nothing_created(play, arm, name, options, extra, expected):
    """Each mistake fails with one line saying what to fix, and ARM sees no change."""
    arm.reset()
    proc, [result] = play([vm_task(name, count=options.pop("count", 2), **options)], extra_env=extra)
    assert proc.returncode != 0 and result["failed"] is True
    assert expected in result["msg"], result["msg"]
    assert "\n" not in result["msg"] and "Traceback" not in result["msg"]
    assert arm.mutating() == [] and arm.vms(name) == []
