"""Digest authentication against the RFC 2617 and RFC 7616 worked examples."""

from __future__ import annotations

import pytest

from engine.carriers.sip.digest import (
    Challenge,
    DigestClient,
    best_challenge,
    digest_response,
    parse_challenge,
)
from engine.carriers.sip.headers import SipParseError

RFC7616 = {
    "realm": "http-auth@example.org",
    "nonce": "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
    "opaque": "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS",
    "cnonce": "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
}


def test_rfc2617_example() -> None:
    challenge = Challenge(
        realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", qop=("auth",)
    )
    response = digest_response(
        challenge,
        method="GET",
        uri="/dir/index.html",
        username="Mufasa",
        password="Circle Of Life",
        nc=1,
        cnonce="0a4f113b",
    )
    assert response == "6629fae49393a05397450978507c4ef1"


@pytest.mark.parametrize(
    ("algorithm", "expected"),
    [
        ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
        ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
    ],
)
def test_rfc7616_examples(algorithm: str, expected: str) -> None:
    challenge = Challenge(
        realm=RFC7616["realm"],
        nonce=RFC7616["nonce"],
        algorithm=algorithm,
        qop=("auth",),
        opaque=RFC7616["opaque"],
    )
    response = digest_response(
        challenge,
        method="GET",
        uri="/dir/index.html",
        username="Mufasa",
        password="Circle of Life",
        nc=1,
        cnonce=RFC7616["cnonce"],
    )
    assert response == expected


def test_parse_challenge_and_prefer_sha256() -> None:
    md5 = 'Digest realm="trunk", nonce="n1", qop="auth,auth-int", algorithm=MD5, opaque="o"'
    sha = 'Digest realm="trunk", nonce="n2", qop="auth", algorithm=SHA-256'
    parsed = parse_challenge(md5)
    assert parsed is not None and parsed.qop == ("auth", "auth-int") and parsed.opaque == "o"
    best = best_challenge([md5, sha], [])
    assert best is not None and best.algorithm == "SHA-256" and best.nonce == "n2"
    proxy = best_challenge([], ['Digest realm="p", nonce="n3"'])
    assert proxy is not None and proxy.header_name == "Proxy-Authorization"
    assert parse_challenge('Basic realm="x"') is None
    assert parse_challenge('Digest realm="x", nonce="y", algorithm=SHA-512') is None
    with pytest.raises(SipParseError):
        parse_challenge('Digest realm="x"')


def test_client_counts_nonce_uses_and_keeps_the_realm() -> None:
    client = DigestClient("alice", "pw", realm="trunk")
    assert client.authorization("INVITE", "sip:b@h") is None
    assert not client.accept(Challenge(realm="other", nonce="n"))
    assert client.accept(Challenge(realm="trunk", nonce="n", qop=("auth",)))
    name, first = client.authorization("INVITE", "sip:b@h") or ("", "")
    _, second = client.authorization("BYE", "sip:b@h") or ("", "")
    assert name == "Authorization"
    assert "nc=00000001" in first and "nc=00000002" in second
    assert 'uri="sip:b@h"' in first and "algorithm=MD5" in first
    assert not DigestClient(None, None).accept(Challenge(realm="trunk", nonce="n"))
