# -*- coding: utf-8 -*-
# Copyright: flaskfleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment:
    """Connection options shared by every flaskfleet Azure module."""

    DOCUMENTATION = r"""
attributes:
  platform:
    platforms: azure
options:
  subscription_id:
    description:
      - The Azure subscription id.
      - If not set, the E(AZURE_SUBSCRIPTION_ID) environment variable is used.
    type: str
  client_id:
    description:
      - The application (client) id of a service principal.
      - If not set, E(AZURE_CLIENT_ID) is used.
    type: str
  secret:
    description:
      - The client secret of the service principal. Never logged.
      - If not set, E(AZURE_SECRET) or E(AZURE_CLIENT_SECRET) is used.
    type: str
  tenant:
    description:
      - The Microsoft Entra tenant id of the service principal.
      - If not set, E(AZURE_TENANT) or E(AZURE_TENANT_ID) is used.
    type: str
  auth_source:
    description:
      - V(auto) uses the service principal when any of O(client_id), O(secret), O(tenant) is set,
        else azure-identity's C(DefaultAzureCredential) (environment, workload identity, managed
        identity, Azure CLI, Azure PowerShell, Azure Developer CLI).
      - V(credentials) uses only the service principal and fails at once when a part is missing.
      - V(default) always uses C(DefaultAzureCredential).
      - If not set, E(ANSIBLE_AZURE_AUTH_SOURCE) is used.
    type: str
    choices: [auto, credentials, default]
    default: auto
  base_url:
    description:
      - The Azure Resource Manager endpoint, for a sovereign cloud, Azure Stack or a local fake
        such as the one in the collection's tests. Defaults to C(https://management.azure.com).
      - The token scope becomes C(<base_url>/.default).
      - If not set, E(AZURE_BASE_URL) is used.
    type: str
  authority_host:
    description:
      - The Microsoft Entra authority, for example C(https://login.microsoftonline.us).
        A host other than the public, China or US Government clouds skips instance discovery.
      - If not set, E(AZURE_AUTHORITY_HOST) is used.
    type: str
  max_attempts:
    description:
      - Total attempts per request with the Azure SDK's retry policy (exponential backoff, and the
        server's C(Retry-After) on 429 and 503 answers).
      - Connection errors (wrong O(base_url), no network) are retried at most twice so a wrong
        endpoint fails fast.
      - If not set, E(AZURE_MAX_ATTEMPTS) is used.
    type: int
    default: 10
requirements:
  - azure-identity
  - azure-mgmt-compute
  - azure-mgmt-network
  - azure-mgmt-resource
notes:
  - Every error from Azure is reported as one line that names the failed action, the ARM error code
    and what to change.
"""
