"""module_utils/_world_ssh: the one refusal of SSH open to the whole internet (ec2_firewall, azure_vm, gce_host)."""

from __future__ import annotations

import pytest
from ansible_collections.flaskfleet.cloud.plugins.module_utils._world_ssh import (
    WORLD_NETWORKS,
    opens_port_22,
    refuse_world_ssh,
)


def test_world_networks_are_the_ipv4_and_ipv6_default_routes():
    assert WORLD_NETWORKS == ("0.0.0.0/0", "::/0")


@pytest.mark.parametrize(
    ("low", "high", "opens"),
    [(22, None, True), ("22", None, True), (20, 30, True), ("1", "1024", True), (23, 80, False), (21, None, False)],
)
def test_opens_port_22(low, high, opens):
    assert opens_port_22(low, high) is opens


def test_refusal_names_every_rule_once_sorted_in_one_line():
    with pytest.raises(ValueError) as caught:
        refuse_world_ssh(["tcp 22 from ::/0", "tcp 22 from 0.0.0.0/0", "tcp 22 from ::/0"], allowed=False)
    assert str(caught.value) == (
        "refusing to open SSH to the whole internet (tcp 22 from 0.0.0.0/0; tcp 22 from ::/0): "
        "restrict the source to your networks or set allow_world_ssh: true"
    )


def test_allowed_or_nothing_open_passes():
    # No ValueError: the rule is allowed explicitly, or nothing opens SSH to the world.
    assert refuse_world_ssh(["tcp 22 from 0.0.0.0/0"], allowed=True) is None
    assert refuse_world_ssh(iter(()), allowed=False) is None
