"""azure_vm against the fake ARM endpoint through ansible-playbook and the installed collection."""

from __future__ import annotations

import pytest
from conftest import vm_task

pytestmark = pytest.mark.azure


def test_exact_count_idempotent_scale_down_absent(play, arm, name):
    """0 -> 5 (changed) -> 5 (unchanged) -> 3 (two oldest deleted) -> 0; check mode changes nothing."""
    arm.reset()
    proc, [first] = play([vm_task(name, count=5)])
    assert proc.returncode == 0, proc.stdout
    assert first["changed"] is True and len(first["created"]) == 5 and len(first["vms"]) == 5
    assert arm.count("PUT virtualMachines") == 5
    assert len(arm.vms(name)) == 5
    assert all(v["private_ip_address"].startswith("10.42.0.") for v in first["vms"])
