# -*- coding: utf-8 -*-
# Copyright: flaskfleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment:
    """Connection options shared by every flaskfleet Google Cloud module."""

    DOCUMENTATION = r"""
attributes:
  platform:
    platforms: gcp
options:
  project:
    description:
      - The Google Cloud project id, for example C(my-project-123).
      - If not set, E(GCP_PROJECT), E(GOOGLE_CLOUD_PROJECT) or E(CLOUDSDK_CORE_PROJECT) is used, then
        the project of the credentials (the service-account key or the Application Default Credentials).
    type: str
  auth_kind:
    description:
      - How to get credentials.
      - V(application) uses Application Default Credentials (C(gcloud auth application-default login),
        E(GOOGLE_APPLICATION_CREDENTIALS), or the service account of the GCE VM the module runs on).
      - V(serviceaccount) reads the JSON key of a service account from O(service_account_file) or
        O(service_account_contents).
      - V(anonymous) sends no credentials; only for an emulator or a local fake API given by O(api_endpoint).
      - If not set, E(GCP_AUTH_KIND) is used; else V(serviceaccount) when a key is given, V(application) otherwise.
    type: str
    choices: [application, serviceaccount, anonymous]
  service_account_file:
    description:
      - Path of a service-account JSON key file.
      - If not set, E(GCP_SERVICE_ACCOUNT_FILE) or E(GOOGLE_APPLICATION_CREDENTIALS) is used.
    type: path
  service_account_contents:
    description:
      - The service-account JSON key itself, as a string. Never logged.
      - If not set, E(GCP_SERVICE_ACCOUNT_CONTENTS) is used.
    type: str
  api_endpoint:
    description:
      - Talk to this endpoint instead of C(compute.googleapis.com), for example a local fake API at
        C(http://127.0.0.1:8080) (the scheme is kept; without one HTTPS is used).
      - If not set, E(GCP_API_ENDPOINT) is used.
    type: str
  retry_timeout:
    description:
      - Seconds one API call may spend retrying HTTP 429 and 5xx answers (exponential backoff from 0.25 to 8 seconds).
      - If not set, E(GCP_RETRY_TIMEOUT) is used.
    type: int
    default: 120
requirements:
  - google-cloud-compute
notes:
  - Every API call is retried with exponential backoff on HTTP 429 and 5xx answers (see O(retry_timeout));
    other errors fail at once.
  - Every error is reported as one line that names the failed action, the HTTP status and reason, and
    what to change (unknown zone, bad image, quota, missing credentials, unreachable endpoint).
"""
