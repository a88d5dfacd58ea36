# -*- coding: utf-8 -*-
# Copyright (c) 2026, flaskfleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What every provider's plumbing (``_aws``, ``_azure``, ``_gcp``, ``_docker``) has in common.

The one-line error type, the shape of an explained API failure, the decorator that turns a
library exception into that error, and the module class that adds the provider's common options
and fails cleanly when its SDK is missing. What an error means and how a client is made stay in
the provider's module_utils. Private to the collection.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import functools

from ansible.module_utils.basic import AnsibleModule, missing_required_lib


class CloudError(Exception):
    """A failed provider call, already explained in one line (``str(err)``); ``code`` if the API gave one."""

    def __init__(self, message, code=None):
        super(CloudError, self).__init__(message)
        self.code = code


def one_line(text):
    """Collapse whitespace so a message always fits one line."""
    return " ".join(str(text).split())


def api_failure(action, code, message, hint=None):
    """``<action> failed: <code>: <message> (<hint>)``, the line for an error the API answered."""
    text = "%s failed: %s: %s" % (action, code, message)
    return "%s (%s)" % (text, hint) if hint else text


def require_name(value, pattern, error_class, missing, malformed):
    """Raise ``error_class(missing)`` when ``value`` is empty, ``error_class(malformed % value)`` when
    ``pattern`` does not match it (a region or zone typo is caught before any API call)."""
    if not value:
        raise error_class(missing)
    if not pattern.match(value):
        raise error_class(malformed % value)


def explain_with(exc, action, error_class, has_sdk, explain_sdk):
    """One line for ``exc``: ``error_class`` is already explained, ``explain_sdk`` knows the SDK's errors.

    ``explain_sdk(exc, action)`` returns ``None`` for an exception it has no words for.
    """
    if isinstance(exc, error_class):
        return str(exc)
    text = explain_sdk(exc, action) if has_sdk else None
    return one_line(text or "%s failed: %s" % (action, exc))


def error_handler(error_class, explain, handled, code_of=None):
    """A decorator factory ``handler(action)`` for tiny API wrappers.

    The exceptions ``handled()`` names leave the wrapped function as ``error_class`` with the
    line ``explain(exc, action)`` (and ``code_of(exc)`` as its code); others pass unchanged.
    """

    def for_action(action):
        def wrapper(func):
            @functools.wraps(func)
            def handler(*args, **kwargs):
                try:
                    return func(*args, **kwargs)
                except error_class:
                    raise
                except Exception as e:
                    if not isinstance(e, handled()):
                        raise
                    raise error_class(explain(e, action), code=code_of(e) if code_of else None) from e

            return handler

        return wrapper

    return for_action


class CloudModule:
    """``AnsibleModule`` plus a provider's common options; fails at once when the provider's SDK is missing.

    Everything else (``params``, ``check_mode``, ``exit_json``, ``warn``, ...) is the ``AnsibleModule``'s.
    """

    def __init__(self, common_spec, argument_spec, sdk, **kwargs):
        """``sdk`` is ``(has_it, requirement names, import traceback)``."""
        spec = dict(common_spec)
        spec.update(argument_spec)
        self._module = AnsibleModule(argument_spec=spec, **kwargs)
        has_sdk, requirement, import_error = sdk
        if not has_sdk:
            self._module.fail_json(msg=missing_required_lib(requirement), exception=import_error)

    def __getattr__(self, name):
        if name == "_module":
            raise AttributeError(name)
        return getattr(self._module, name)

    def connected(self, make, error_class):
        """``make(params)``; an ``error_class`` on the way fails the module with its one line."""
        try:
            return make(self._module.params)
        except error_class as e:
            self._module.fail_json(msg=str(e))


def run_and_exit(module, work, error_class, changed, keep_diff=True):
    """``exit_json`` with ``work.run()``'s result; an ``error_class`` fails with its one line and
    ``work.result``, what was done by then (``changed(done)`` says whether that changed anything)."""
    try:
        result = work.run()
    except error_class as e:
        done = work.result
        done["changed"] = changed(done)
        if not keep_diff:
            done.pop("diff", None)
        module.fail_json(msg=str(e), **done)
    module.exit_json(**result)


def if_missing(is_missing, value=None):
    """Decorator: the wrapped API call returns ``value`` where it raised an exception ``is_missing(exc)``
    says is a "not found" (a deleted resource, a group that does not exist yet)."""

    def wrapper(func):
        @functools.wraps(func)
        def handler(*args, **kwargs):
            try:
                return func(*args, **kwargs)
            except Exception as e:
                if is_missing(e):
                    return value
                raise

        return handler

    return wrapper
