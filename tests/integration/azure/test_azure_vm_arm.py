"""azure_vm against the fake ARM endpoint through ansible-playbook and the installed collection."""

from __future__ import annotations

import base64

import pytest
import yaml
from armfake import Fault
from azureplay import KEY, vm_task

pytestmark = pytest.mark.azure


def test_exact_count_idempotent_scale_down_absent(play, arm, name):
    """0 -> 5 (changed) -> 5 (unchanged) -> 3 (two oldest deleted) -> 0, all against ARM's state."""
    arm.reset()
    proc, [first] = play([vm_task(name, count=5)])
    assert proc.returncode == 0, proc.stdout
    assert first["changed"] is True and len(first["created"]) == 5 and len(first["vms"]) == 5
    assert arm.count("PUT deployments") == 1 and arm.count("PUT virtualMachines") == 0
    assert sorted(v["name"] for v in arm.deployed) == sorted(first["created"])
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


def test_api_calls_for_100_vms_at_most_5_more_than_for_1(play, arm, name, figure):
    """Issue 13, must-show 2: 100 VMs cost at most 5 calls more than 1 VM. All new VMs are made by
    ONE template deployment, whose single operation is polled the same number of times for any N."""
    arm.cores_limit = 10000
    calls = {}
    try:
        for count in (1, 100):
            arm.reset()
            proc, [result] = play([vm_task(f"{name}-{count}", count=count)])
            assert proc.returncode == 0 and len(result["created"]) == count, proc.stdout
            assert len(arm.vms(f"{name}-{count}")) == count
            with arm.lock:
                calls[count] = list(arm.calls)
    finally:
        arm.cores_limit = 100
    figure(
        f"Azure API calls to create VMs (one template deployment): 1 VM -> {len(calls[1])} calls, "
        f"100 VMs -> {len(calls[100])} calls"
    )
    assert len(calls[100]) <= len(calls[1]) + 5, (calls[1], calls[100])
    for count in (1, 100):
        assert calls[count].count("PUT deployments") == 1 and calls[count].count("PUT virtualMachines") == 0
    for count in (1, 100):
        arm.reset()
        proc, _ = play([vm_task(f"{name}-{count}", state="absent")])
        assert proc.returncode == 0 and arm.count("DELETE virtualMachines") == count


def test_failed_deployment_deletes_what_it_made_and_says_why(play, arm, name):
    """The deployment fails after 2 of 3 VMs: those are deleted again, the task fails with one line
    naming the deployment and ARM's error."""
    arm.reset(deployment_failure=(2, "AllocationFailed", "Allocation failed. We do not have sufficient capacity."))
    proc, [result] = play([vm_task(name, count=3)])
    assert proc.returncode != 0 and result["failed"] is True
    msg = result["msg"]
    assert f"deployment {result['deployment']} failed: AllocationFailed: Allocation failed." in msg, msg
    assert "the 3 VMs this run started to create were deleted again" in msg, msg
    assert "\n" not in msg and "Traceback" not in msg
    assert result["created"] == [] and arm.vms(name) == []
    assert arm.count("DELETE virtualMachines") == 3
    assert [n for n in arm.resources if "/networkinterfaces/" in n and name in n] == []


def test_refused_deployment_fails_in_one_line_and_makes_nothing(play, arm, name):
    """ARM refuses the deployment itself (400): one line, no VM, no delete needed."""
    arm.reset(Fault(400, "InvalidTemplate", call="PUT deployments", times=1, message="Template is not valid."))
    proc, [result] = play([vm_task(name, count=2)])
    assert proc.returncode != 0 and result["failed"] is True
    assert "start the template deployment failed: InvalidTemplate: Template is not valid." in result["msg"]
    assert "\n" not in result["msg"] and arm.vms(name) == [] and arm.count("DELETE") == 0


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
    # Both tasks sent one deployment; its template is one VM resource looped with copy, and the
    # custom data (the private host key) travels as a secureObject parameter.
    strict_deployment, _relaxed_deployment = arm.bodies["PUT deployments"]
    template = strict_deployment["properties"]["template"]
    [resource] = template["resources"]
    assert resource["type"] == "Microsoft.Compute/virtualMachines" and resource["copy"]["name"] == "vms"
    assert template["parameters"]["customData"]["type"] == "secureObject"
    assert strict_deployment["properties"]["mode"] == "Incremental"
    # The VM bodies as ARM expands them from the template.
    strict_body, relaxed_body = arm.deployed
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
    """429 and 503 with Retry-After on the list, the deployment and its polls: retried, the run succeeds."""
    arm.reset(
        Fault(503, "ServerBusy", call="GET virtualMachines.list", times=1, retry_after=1),
        Fault(429, "TooManyRequests", call="PUT deployments", times=2, retry_after=1),
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
