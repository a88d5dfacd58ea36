"""Helpers of the Azure tests (kept out of conftest.py so test files can import them)."""

from __future__ import annotations

from pathlib import Path

from armfake import CLIENT_ID, SECRET, SUBSCRIPTION, TENANT, ArmFake

ROOT = Path(__file__).resolve().parents[3]
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTheAzureTestsOnly0000000000000000 t@azure"


def azure_env(base_env: dict, arm: ArmFake) -> dict:
    """Ansible's environment plus the fake's service principal; nothing may reach real Azure."""
    env = {k: v for k, v in base_env.items() if not k.startswith(("AZURE_", "ANSIBLE_AZURE_"))}
    env.update(
        AZURE_SUBSCRIPTION_ID=SUBSCRIPTION,
        AZURE_CLIENT_ID=CLIENT_ID,
        AZURE_SECRET=SECRET,
        AZURE_TENANT=TENANT,
        AZURE_BASE_URL=arm.url,
        AZURE_AUTHORITY_HOST=arm.url,
        REQUESTS_CA_BUNDLE=str(arm.cert),
        ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
    )
    return env


def vm_task(name: str, **options) -> dict:
    """An azure_vm task for ``name`` (group web, app t-azure) in westeurope."""
    args = {
        "name": name,
        "group": "web",
        "app": "t-azure",
        "resource_group": f"rg-{name}",
        "location": "westeurope",
        "ssh_public_key": KEY,
        "ssh_cidrs": ["203.0.113.0/24"],
        **options,
    }
    return {"name": "vms", "flaskfleet.cloud.azure_vm": args, "register": "result"}
