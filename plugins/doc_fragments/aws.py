# -*- coding: utf-8 -*-
# Copyright: flaskfleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment:
    """Connection options shared by every flaskfleet AWS module."""

    DOCUMENTATION = r"""
attributes:
  platform:
    platforms: aws
options:
  region:
    description:
      - The AWS region, for example C(us-east-1).
      - If not set, the E(AWS_REGION) or E(AWS_DEFAULT_REGION) environment variable is used.
    type: str
    aliases: [aws_region]
  profile:
    description:
      - A named profile from C(~/.aws/config) / C(~/.aws/credentials).
      - If not set, the E(AWS_PROFILE) environment variable is used.
    type: str
    aliases: [aws_profile]
  aws_access_key_id:
    description:
      - The AWS access key id.
      - If not set, E(AWS_ACCESS_KEY_ID) is used, then the rest of boto3's credential chain
        (profile, instance role).
    type: str
    aliases: [access_key, aws_access_key]
  aws_secret_access_key:
    description:
      - The AWS secret access key. Never logged.
      - If not set, E(AWS_SECRET_ACCESS_KEY) is used.
    type: str
    aliases: [secret_key, aws_secret_key]
  session_token:
    description:
      - The session token for temporary credentials. Never logged.
      - If not set, E(AWS_SESSION_TOKEN) is used.
    type: str
    aliases: [aws_session_token]
  endpoint_url:
    description:
      - Talk to this URL instead of the public AWS endpoint, for example a C(moto_server) at
        C(http://127.0.0.1:5000) or another EC2-compatible API.
      - If not set, E(AWS_ENDPOINT_URL) is used.
    type: str
    aliases: [aws_endpoint_url]
  max_attempts:
    description:
      - Total attempts per API call with botocore's C(standard) retry mode (exponential backoff
        with jitter on throttling and transient errors).
      - Connection errors (wrong O(endpoint_url), no network) are tried at most 3 times so a
        wrong endpoint fails fast.
      - If not set, E(AWS_MAX_ATTEMPTS) is used.
    type: int
    default: 10
requirements:
  - boto3
  - botocore
notes:
  - Every error from AWS is reported as one line that names the failed action, the AWS error code
    and what to change.
"""
