"""module_utils/_cloud: the error shape and decorator every provider's plumbing shares."""

from __future__ import annotations

import pytest
from ansible_collections.flaskfleet.cloud.plugins.module_utils import _cloud as cloud


class SDKError(Exception):
    pass


class ProviderError(cloud.CloudError):
    pass


def explain_sdk(exc, action):
    return "%s failed:\n  %s" % (action, exc) if "known" in str(exc) else None


def explain(exc, action):
    return cloud.explain_with(exc, action, ProviderError, True, explain_sdk)


def test_explain_with_keeps_explained_errors_and_falls_back_to_one_line():
    assert explain(ProviderError("already said"), "x") == "already said"
    assert explain(SDKError("known\nproblem"), "list hosts") == "list hosts failed: known problem"
    assert explain(SDKError("odd  thing"), "list hosts") == "list hosts failed: odd thing"
    assert cloud.explain_with(SDKError("known"), "a", ProviderError, False, explain_sdk) == "a failed: known"


def test_api_failure_adds_the_hint_only_when_there_is_one():
    assert cloud.api_failure("run", "Quota", "too many", "ask for more") == "run failed: Quota: too many (ask for more)"
    assert cloud.api_failure("run", "Quota", "too many") == "run failed: Quota: too many"


def test_error_handler_turns_handled_errors_into_the_provider_error_only():
    handler = cloud.error_handler(ProviderError, explain, lambda: (SDKError,), lambda e: "E42")

    @handler("delete the host")
    def call(exc):
        raise exc

    with pytest.raises(ProviderError) as caught:
        call(SDKError("boom"))
    assert str(caught.value) == "delete the host failed: boom" and caught.value.code == "E42"
    assert isinstance(caught.value.__cause__, SDKError)
    with pytest.raises(KeyError):
        call(KeyError("not ours"))
    with pytest.raises(ProviderError, match=r"^mine$"):
        call(ProviderError("mine"))


def test_if_missing_returns_the_value_for_not_found_only():
    @cloud.if_missing(lambda e: "404" in str(e), value=[])
    def read(exc=None):
        if exc:
            raise exc
        return ["found"]

    assert read() == ["found"]
    assert read(SDKError("404 not found")) == []
    with pytest.raises(SDKError, match="500"):
        read(SDKError("500 server error"))
