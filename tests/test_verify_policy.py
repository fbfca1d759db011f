"""Policy: defaults and reading trust roots (PEM, DER, directories)."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization

from tests.fixtures.realworld import REALWORLD
from verify.policy import LEVELS, Policy, PolicyError, load_certificates


def test_defaults():
    p = Policy()
    assert p.trust_roots == ()
    assert p.use_system_trust is False
    assert p.min_level == "B-B"
    assert p.allow_fetching is False
    assert p.max_bytes == 20 * 1024 * 1024
    assert p.max_pages == 50
    assert p.timeout == 30.0
    assert p.weak_digests == {"md5", "sha1"}
    with pytest.raises(Exception):
        p.max_pages = 3  # frozen


def test_levels():
    assert LEVELS == ("B-B", "B-T", "B-LT", "B-LTA")
    p = Policy(min_level="B-LT")
    assert not p.level_at_least("B-T") and p.level_at_least("B-LTA") and not p.level_at_least(None)
    with pytest.raises(PolicyError):
        Policy(min_level="B-X")
    with pytest.raises(PolicyError):
        Policy(timeout=0)


def test_load_pem_der_and_directories(pki, tmp_path):
    der = tmp_path / "root.der"
    der.write_bytes(pki.root.cert.public_bytes(serialization.Encoding.DER))
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(pki.root.cert_pem + pki.intermediate.cert_pem)
    assert len(Policy.load([pki.root_pem_path]).trust_roots) == 1
    assert len(Policy.load([der]).trust_roots) == 1
    assert len(Policy.load([bundle]).trust_roots) == 2
    # a directory: certificate files only, duplicates counted once
    (tmp_path / "notes.txt").write_text("not a certificate")
    p = Policy.load([tmp_path, pki.root_pem_path], max_pages=3)
    assert len(p.trust_roots) == 2 and p.max_pages == 3
    assert p.trust_roots[0].subject.native["common_name"] == "docintake Demo Root CA"


def test_load_errors(tmp_path):
    with pytest.raises(PolicyError):
        Policy.load([tmp_path / "missing.pem"])
    bad = tmp_path / "bad.pem"
    bad.write_text("-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n")
    with pytest.raises(PolicyError):
        load_certificates(bad)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(PolicyError):
        load_certificates(empty)


def test_realworld_certs_directory_loads():
    assert len(Policy.load([REALWORLD / "certs"]).trust_roots) >= 4
