"""flaskfleet.inventory: Ansible host patterns, host vars, and reading real inventories."""

from __future__ import annotations

import textwrap

import pytest

from flaskfleet.inventory import Inventory, InventoryError, split_pattern

LIST_JSON = {
    "_meta": {
        "hostvars": {
            "web-1": {"ansible_host": "127.0.0.1", "ansible_port": 2201, "ansible_user": "admin",
                      "flaskfleet_known_hosts_file": "/k/known_hosts",
                      "ansible_ssh_private_key_file": "/k/id"},
            "web-2": {"ansible_host": "127.0.0.1", "ansible_port": 2202},
            "web-10": {"ansible_host": "127.0.0.1", "ansible_port": 2210},
            "db-1": {"ansible_host": "10.0.0.5"},
            "lonely": {},
        }
    },
    "all": {"children": ["ungrouped", "web", "db", "prod"]},
    "ungrouped": {"hosts": ["lonely"]},
    "web": {"hosts": ["web-1", "web-2", "web-10"]},
    "db": {"hosts": ["db-1"]},
    "prod": {"hosts": ["web-1", "db-1"], "children": ["canary"]},
    "canary": {"hosts": ["web-10"]},
}  # fmt: skip


@pytest.fixture
def inv() -> Inventory:
    return Inventory(LIST_JSON, default_known_hosts="/default/known_hosts", default_key="/default/key")


def names(hosts) -> list[str]:
    return [h.name for h in hosts]


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("web", ["web-1", "web-2", "web-10"]),
        ("all", ["db-1", "lonely", "web-1", "web-2", "web-10"]),
        ("*", ["db-1", "lonely", "web-1", "web-2", "web-10"]),
        ("web:&prod", ["web-1", "web-10"]),
        ("web,&prod", ["web-1", "web-10"]),
        ("web:!prod", ["web-2"]),
        ("prod:!canary", ["db-1", "web-1"]),
        ("web-1,db-1", ["db-1", "web-1"]),
        ("web-1:db-1", ["db-1", "web-1"]),
        ("web-*", ["web-1", "web-2", "web-10"]),
        ("w*:!web-1?", ["web-1", "web-2"]),
        ("~web-[12]$", ["web-1", "web-2"]),
        ("web[0]", ["web-1"]),
        ("web[1:2]", ["web-2", "web-10"]),
        ("web[-1]", ["web-10"]),
        ("ungrouped", ["lonely"]),
        (" web , db ", ["db-1", "web-1", "web-2", "web-10"]),
    ],
)
def test_patterns_resolve_like_ansible(inv, pattern, expected):
    assert names(inv.select(pattern)) == expected


def test_web_10_sorts_after_web_2(inv):
    assert list(inv.hosts) == ["db-1", "lonely", "web-1", "web-2", "web-10"]


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("nope", "host pattern 'nope' matches no host or group in the inventory; groups: all, canary, db, prod, web"),
        ("web:&nope", "host pattern 'nope' matches no host or group in the inventory"),
        ("web:!web-*", "host pattern 'web:!web-*' leaves no hosts after its & and ! terms"),
        ("db:&web", "host pattern 'db:&web' leaves no hosts after its & and ! terms"),
        ("", "empty host pattern; pass -H PATTERN (e.g. web, all, web:&prod)"),
    ],
)
def test_bad_patterns_say_what_is_wrong(inv, pattern, message):
    with pytest.raises(InventoryError) as err:
        inv.select(pattern)
    assert str(err.value).startswith(message)


def test_empty_inventory_says_so():
    empty = Inventory({"_meta": {"hostvars": {}}, "all": {"children": ["ungrouped"]}})
    with pytest.raises(InventoryError, match=r"^the inventory has no hosts; provision some \(invoke provision\)"):
        empty.select("all")


def test_split_pattern_keeps_subscripts_whole():
    assert split_pattern("web[1:3]:!web-2") == ["web[1:3]", "!web-2"]
    assert split_pattern("a,b:c") == ["a", "b:c"]


def test_host_vars_and_known_hosts_from_ssh_args(inv):
    web1, web2 = inv.hosts["web-1"], inv.hosts["web-2"]
    assert (web1.address, web1.port, web1.user) == ("127.0.0.1", 2201, "admin")
    assert web1.known_hosts == "/k/known_hosts" and web1.key_file == "/k/id"
    assert web1.endpoint == "[127.0.0.1]:2201" and web1.destination == "admin@127.0.0.1"
    assert web1.groups == ("prod", "web")
    # hosts without their own say get the project's known_hosts and key
    assert (web2.known_hosts, web2.key_file, web2.user) == ("/default/known_hosts", "/default/key", None)
    assert web2.destination == web2.address
    assert inv.hosts["db-1"].port == 22 and inv.hosts["db-1"].endpoint == "10.0.0.5"
    assert inv.hosts["web-10"].groups == ("canary", "prod", "web")


def test_reads_static_yaml_and_ini_with_ansible(tmp_path):
    (tmp_path / "hosts.yml").write_text(
        textwrap.dedent("""
        all:
          children:
            web:
              hosts:
                web-1: {ansible_host: 127.0.0.1, ansible_port: 2222, ansible_user: admin}
                web-2: {ansible_host: 127.0.0.2}
        """)
    )
    (tmp_path / "hosts.ini").write_text("[web]\nweb-1 ansible_host=127.0.0.1 ansible_port=2222\n[db]\ndb-1\n")
    yml = Inventory.load(str(tmp_path / "hosts.yml"))
    assert names(yml.select("web")) == ["web-1", "web-2"] and yml.hosts["web-1"].port == 2222
    ini = Inventory.load(str(tmp_path / "hosts.ini"))
    assert names(ini.select("all")) == ["db-1", "web-1"] and ini.hosts["web-1"].port == 2222


def test_missing_and_broken_inventories(tmp_path):
    with pytest.raises(InventoryError, match=r"^inventory /nope/x.yml not found; create it or pass --inventory PATH$"):
        Inventory.load("/nope/x.yml")
    broken = tmp_path / "broken.yml"
    broken.write_text("all: [unclosed\n")
    with pytest.raises(InventoryError, match=r"^cannot read inventory .*broken.yml: "):
        Inventory.load(str(broken))
