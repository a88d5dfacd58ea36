"""module_utils/_identity: which hosts are ours, and exact-count arithmetic (shared by the providers)."""

from __future__ import annotations

from ansible_collections.flaskfleet.cloud.plugins.module_utils import _identity as identity


def test_identity_tags_group_defaults_to_the_name_and_app_is_optional():
    assert identity.identity_tags({"name": "web", "group": None, "app": None}) == {
        "flaskfleet.managed": "true",
        "flaskfleet.name": "web",
        "flaskfleet.group": "web",
    }
    assert identity.identity_tags({"name": "web", "group": "front", "app": "hello"})["flaskfleet.app"] == "hello"


def test_wanted_tags_identity_wins_over_user_tags_and_base():
    params = {"name": "web", "group": "web", "app": "hello", "user": "admin", "tags": {"flaskfleet.app": "x", "n": 1}}
    tags = identity.wanted_tags(params, base={"Name": "web", "flaskfleet.name": "other"})
    assert tags["flaskfleet.app"] == "hello" and tags["flaskfleet.name"] == "web"
    assert tags["Name"] == "web" and tags["n"] == "1" and tags["flaskfleet.user"] == "admin"


def test_plan_count_removes_the_oldest_first_ties_broken_by_key():
    hosts = [{"id": "c", "t": 2}, {"id": "b", "t": 1}, {"id": "a", "t": 1}]

    def plan(count):
        return identity.plan_count(hosts, count, age=lambda h: h["t"], key=lambda h: h["id"])

    assert plan(1) == (0, ["a", "b"])
    assert plan(3) == (0, [])
    assert plan(5) == (2, [])
