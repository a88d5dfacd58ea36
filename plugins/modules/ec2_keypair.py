#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: flaskfleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: ec2_keypair
short_description: Import a local SSH public key as an EC2 key pair, idempotent by fingerprint
version_added: 0.1.0
description:
  - Imports an OpenSSH public key (C(ssh-ed25519) or C(ssh-rsa)) as an EC2 key pair, so
    M(flaskfleet.cloud.ec2_host) can install it on new instances.
  - The private key never leaves the controller; AWS never generates one for you here.
  - The key pair's fingerprint is compared with the local key's (all the forms EC2 uses for
    imported keys are computed locally), so a second run changes nothing. A key pair of the
    same name with another key is replaced when O(force=true) and refused otherwise.
extends_documentation_fragment:
  - flaskfleet.cloud.attributes
  - flaskfleet.cloud.aws
options:
  name:
    description: Name of the key pair.
    type: str
    required: true
  public_key:
    description:
      - The public key, one line like C(ssh-ed25519 AAAA... comment).
      - Mutually exclusive with O(public_key_path); one of them is required for O(state=present).
    type: str
  public_key_path:
    description: Path of the public key file on the machine the module runs on.
    type: path
  state:
    description: V(present) imports the key, V(absent) deletes the key pair.
    type: str
    choices: [present, absent]
    default: present
  force:
    description:
      - Replace a key pair of the same name that holds another key.
      - With V(false) such a key pair makes the task fail.
    type: bool
    default: true
seealso:
  - module: flaskfleet.cloud.ec2_host
"""

EXAMPLES = r"""
- name: Import the project's SSH key
  flaskfleet.cloud.ec2_keypair:
    name: flaskfleet
    public_key_path: "{{ playbook_dir }}/.flaskfleet/id_ed25519.pub"
    region: eu-west-1
  register: keypair

- name: Import a key given inline, but never replace another one
  flaskfleet.cloud.ec2_keypair:
    name: deployer
    public_key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEXAMPLEEXAMPLEEXAMPLEEXAMPLEEXAMPLEEXAMPL deployer"
    force: false
    region: eu-west-1

- name: Delete the key pair
  flaskfleet.cloud.ec2_keypair:
    name: deployer
    state: absent
    region: eu-west-1
"""

RETURN = r"""
key_name:
  description: Name of the key pair.
  returned: always
  type: str
  sample: flaskfleet
key_fingerprint:
  description: Fingerprint of the key pair as EC2 reports it (null when absent or in check mode before creation).
  returned: always
  type: str
  sample: "ulo4/Q3ywTMIb5dcbLSdoo6zSOdh8Z+ZJzwnDl1gkJQ="
key_pair_id:
  description: Id of the key pair (null when absent).
  returned: always
  type: str
  sample: key-0123456789abcdef0
"""

import base64
import binascii
import hashlib
import struct

from ansible.module_utils.common.text.converters import to_text
from ansible_collections.flaskfleet.cloud.plugins.module_utils._aws import (
    AWSError,
    FleetAWSModule,
    aws_error_handler,
    none_if_missing,
)

# DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410); the 32 key bytes follow.
ED25519_SPKI_PREFIX = bytes.fromhex("302a300506032b6570032100")
# DER AlgorithmIdentifier for rsaEncryption with NULL parameters (RFC 3279).
RSA_ALGORITHM = bytes.fromhex("300d06092a864886f70d0101010500")


def read_ssh_string(blob, offset):
    """One SSH wire-format string (uint32 length + bytes) -> (bytes, next offset)."""
    if offset + 4 > len(blob):
        raise ValueError("truncated key data")
    (length,) = struct.unpack(">I", blob[offset : offset + 4])
    end = offset + 4 + length
    if end > len(blob):
        raise ValueError("truncated key data")
    return blob[offset + 4 : end], end


def parse_public_key(text):
    """``"ssh-ed25519 AAAA... comment"`` -> (key type, wire-format blob); ``ValueError`` if unusable."""
    fields = text.strip().split()
    if len(fields) < 2 or "\n" in text.strip():
        raise ValueError("expected one line like 'ssh-ed25519 AAAA... comment'")
    key_type = fields[0]
    if key_type not in ("ssh-ed25519", "ssh-rsa"):
        raise ValueError("EC2 imports only ssh-ed25519 and ssh-rsa keys, not %s" % key_type)
    try:
        blob = base64.b64decode(fields[1], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the key data is not valid base64") from None
    inner_type = read_ssh_string(blob, 0)[0]
    if to_text(inner_type) != key_type:
        raise ValueError("the key data says %s, the line says %s" % (to_text(inner_type), key_type))
    spki_der(key_type, blob)  # reads every field: a truncated key fails here, not at AWS
    return key_type, blob


def der_length(length):
    """DER length octets."""
    if length < 0x80:
        return bytes([length])
    octets = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(octets)]) + octets


def der(tag, content):
    """One DER element."""
    return bytes([tag]) + der_length(len(content)) + content


def spki_der(key_type, blob):
    """The DER SubjectPublicKeyInfo of an SSH public key (what EC2 hashes for imported keys)."""
    if key_type == "ssh-ed25519":
        key = read_ssh_string(blob, read_ssh_string(blob, 0)[1])[0]
        if len(key) != 32:
            raise ValueError("an ssh-ed25519 key has 32 bytes, this one %d" % len(key))
        return ED25519_SPKI_PREFIX + key
    # ssh-rsa: string type, mpint e, mpint n. SSH mpints are already minimal two's complement,
    # which is exactly the content of a DER INTEGER.
    offset = read_ssh_string(blob, 0)[1]
    exponent, offset = read_ssh_string(blob, offset)
    modulus = read_ssh_string(blob, offset)[0]
    rsa_key = der(0x30, der(0x02, modulus) + der(0x02, exponent))
    return der(0x30, RSA_ALGORITHM + der(0x03, b"\x00" + rsa_key))


def colon_hex(digest):
    """``ab:cd:...`` form of a digest."""
    return ":".join("%02x" % b for b in bytearray(digest))


def openssh_fingerprint(blob):
    """The fingerprint ``ssh-keygen -l`` prints: ``SHA256:`` + unpadded base64."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode("ascii").rstrip("=")


def fingerprints(key_type, blob):
    """Every fingerprint form EC2 implementations report for an imported key.

    AWS: MD5 of the DER public key for RSA, base64 SHA-256 of the SSH key blob for Ed25519;
    other EC2 APIs (moto) hash the DER form with SHA-256. The forms cannot collide across keys.
    """
    spki = spki_der(key_type, blob)
    sha_blob = base64.b64encode(hashlib.sha256(blob).digest()).decode("ascii")
    return set(
        [
            # MD5 is EC2's fingerprint format here, not a security measure.
            colon_hex(hashlib.md5(spki, usedforsecurity=False).digest()),
            colon_hex(hashlib.sha256(spki).digest()),
            colon_hex(hashlib.md5(blob, usedforsecurity=False).digest()),
            sha_blob,
            sha_blob.rstrip("="),
            openssh_fingerprint(blob),
        ]
    )


# --- tiny API wrappers ---------------------------------------------------------------------


@aws_error_handler("describe the key pair")
@none_if_missing("InvalidKeyPair.NotFound")
def find_key_pair(client, name):
    """The key pair called ``name``, or ``None``."""
    pairs = client.describe_key_pairs(KeyNames=[name])["KeyPairs"]
    return pairs[0] if pairs else None


@aws_error_handler("import the key pair")
def import_key_pair(client, name, public_key):
    """Import ``public_key`` as ``name``; returns the new key pair."""
    return client.import_key_pair(KeyName=name, PublicKeyMaterial=public_key.encode("utf-8"))


@aws_error_handler("delete the key pair")
def delete_key_pair(client, name):
    """Delete the key pair ``name``."""
    client.delete_key_pair(KeyName=name)


# --- the module ----------------------------------------------------------------------------


def read_key(module):
    """The public key line from ``public_key`` or ``public_key_path`` (fails the module if bad)."""
    text = module.params["public_key"]
    where = "public_key"
    if module.params["public_key_path"]:
        where = "public_key_path %s" % module.params["public_key_path"]
        try:
            with open(module.params["public_key_path"], "r") as handle:
                text = handle.read()
        except (IOError, OSError) as e:
            module.fail_json(msg="cannot read %s: %s" % (where, e.strerror or e))
    try:
        key_type, blob = parse_public_key(text)
    except ValueError as e:
        module.fail_json(msg="%s is not a usable SSH public key: %s" % (where, e))
    return text.strip(), key_type, blob


def ensure_present(module, client, current):
    """Import the key unless a pair with the same fingerprint exists; returns the result."""
    name = module.params["name"]
    line, key_type, blob = read_key(module)
    result = dict(changed=False, key_name=name, key_fingerprint=None, key_pair_id=None)
    if current and current.get("KeyFingerprint") in fingerprints(key_type, blob):
        result.update(key_fingerprint=current["KeyFingerprint"], key_pair_id=current.get("KeyPairId"))
        return result
    if current and not module.params["force"]:
        module.fail_json(
            msg="key pair %s exists with another key (fingerprint %s): set force: true to replace it "
            "or use another name" % (name, current.get("KeyFingerprint")),
            **result,
        )
    result["changed"] = True
    result["diff"] = {
        "before": {"fingerprint": current.get("KeyFingerprint")} if current else {},
        "after": {"key_type": key_type, "fingerprint": openssh_fingerprint(blob)},
    }
    if module.check_mode:
        return result
    if current:
        delete_key_pair(client, name)
    created = import_key_pair(client, name, line)
    result.update(key_fingerprint=created.get("KeyFingerprint"), key_pair_id=created.get("KeyPairId"))
    return result


def ensure_absent(module, client, current):
    """Delete the key pair if it exists."""
    result = dict(changed=current is not None, key_name=module.params["name"], key_fingerprint=None, key_pair_id=None)
    if current is not None:
        result["diff"] = {"before": {"fingerprint": current.get("KeyFingerprint")}, "after": {}}
        if not module.check_mode:
            delete_key_pair(client, module.params["name"])
    return result


def main():
    """Entry point: parse, observe, decide, act."""
    module = FleetAWSModule(
        dict(
            name=dict(type="str", required=True),
            public_key=dict(type="str"),
            public_key_path=dict(type="path"),
            state=dict(type="str", default="present", choices=["present", "absent"]),
            force=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
        mutually_exclusive=[("public_key", "public_key_path")],
        required_if=[("state", "present", ("public_key", "public_key_path"), True)],
    )
    try:
        client = module.client("ec2")
        current = find_key_pair(client, module.params["name"])
        if module.params["state"] == "absent":
            module.exit_json(**ensure_absent(module, client, current))
        module.exit_json(**ensure_present(module, client, current))
    except AWSError as e:
        module.fail_json(msg=str(e))


if __name__ == "__main__":
    main()
