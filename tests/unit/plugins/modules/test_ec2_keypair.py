"""Unit tests for flaskfleet.cloud.ec2_keypair: key parsing and EC2 fingerprints, checked
against the ``cryptography`` library's own DER encoding."""

from __future__ import annotations

import base64
import hashlib

import pytest
from ansible_collections.flaskfleet.cloud.plugins.modules import ec2_keypair as kp
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa


def openssh_line(key) -> str:
    return key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


def der(key) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


@pytest.mark.parametrize(
    "key",
    [ed25519.Ed25519PrivateKey.generate(), rsa.generate_private_key(65537, 2048), rsa.generate_private_key(3, 2048)],
    ids=["ed25519", "rsa-2048", "rsa-2048-e3"],
)
def test_spki_der_matches_cryptography(key):
    key_type, blob = kp.parse_public_key(openssh_line(key) + " someone@example")
    assert kp.spki_der(key_type, blob) == der(key)


def test_fingerprints_cover_aws_and_moto_forms():
    rsa_key = rsa.generate_private_key(65537, 2048)
    key_type, blob = kp.parse_public_key(openssh_line(rsa_key))
    aws_rsa = ":".join("%02x" % b for b in hashlib.md5(der(rsa_key)).digest())  # noqa: S324 - EC2's format
    assert aws_rsa in kp.fingerprints(key_type, blob)

    ed_key = ed25519.Ed25519PrivateKey.generate()
    key_type, blob = kp.parse_public_key(openssh_line(ed_key))
    aws_ed = base64.b64encode(hashlib.sha256(blob).digest()).decode()
    moto_ed = ":".join("%02x" % b for b in hashlib.sha256(der(ed_key)).digest())
    assert {aws_ed, moto_ed} <= kp.fingerprints(key_type, blob)
    assert kp.openssh_fingerprint(blob) == "SHA256:" + aws_ed.rstrip("=")

    other_type, other_blob = kp.parse_public_key(openssh_line(ed25519.Ed25519PrivateKey.generate()))
    assert not kp.fingerprints(key_type, blob) & kp.fingerprints(other_type, other_blob)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("ecdsa-sha2-nistp256 AAAA", "EC2 imports only ssh-ed25519 and ssh-rsa keys"),
        ("ssh-ed25519", "expected one line"),
        ("ssh-ed25519 ***", "not valid base64"),
        ("ssh-ed25519 AAAAB3NzaC1yc2EAAAADAQ==", "the key data says ssh-rsa"),
        ("ssh-rsa AAAAB3NzaC1yc2EAAAADAQ==", "truncated key data"),
        ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAAQE=", "an ssh-ed25519 key has 32 bytes, this one 1"),
    ],
)
def test_parse_public_key_rejects_bad_keys(line, message):
    with pytest.raises(ValueError, match=message):
        kp.parse_public_key(line)
