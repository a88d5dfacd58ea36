# -*- coding: utf-8 -*-
# Copyright (c) 2025, flaskfleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment:
    """Options shared by every module that talks to the local Docker engine."""

    DOCUMENTATION = r"""
options:
  docker_host:
    description:
      - The Docker engine to talk to, for example V(unix:///var/run/docker.sock) or V(tcp://127.0.0.1:2375).
      - If not set, the value of the E(DOCKER_HOST) environment variable is used; if that is not set either, the
        local socket V(unix:///var/run/docker.sock) (E(DOCKER_TLS_VERIFY) and E(DOCKER_CERT_PATH) are honoured).
      - The module runs on the controller (C(delegate_to=localhost)), so this is the controller's engine.
    type: str
  api_timeout:
    description:
      - Timeout in seconds for a single Docker API call.
    type: int
    default: 60
requirements:
  - docker >= 7.0 (the Docker SDK for Python, on the controller)
notes:
  - The module talks to the engine through the Docker SDK for Python, never through the C(docker) CLI.
"""
