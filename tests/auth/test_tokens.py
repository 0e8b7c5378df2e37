"""Issuing and verifying tokens: round trips for every algorithm, claims, the verified-token cache."""

from __future__ import annotations

import jwt
import pytest

from rowgate.auth.tokens.discovery import JWKS_PATH, openid_configuration
from rowgate.auth.tokens.keys import ALGORITHMS, KeyRing
from rowgate.auth.tokens.service import TokenService
from rowgate.config.schema import MountSettings, ServerSettings, Settings, TokenSettings
from rowgate.errors import InvalidToken, TokenExpired, TokenRevoked
from tests import keykit


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = keykit.NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def ring_for(algorithm: str) -> KeyRing:
    return KeyRing.of(keykit.key(algorithm))


def issue(service: TokenService, **claims: object) -> str:
    defaults: dict[str, object] = {"sub": "user-1", "sid": "session-1", "amr": ["pwd"]}
    return service.issue_access(**{**defaults, **claims}).token  # type: ignore[arg-type]


# -- round trips ------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_an_access_token_round_trips(algorithm: str) -> None:
    service = keykit.service(ring_for(algorithm))
    issued = service.issue_access(
        sub="user-1",
        sid="session-1",
        amr=["pwd", "mfa"],
        org_id="org-1",
        role="admin",
        extra={"scope": "read write", "perms": ["tasks:read"], "tier": "gold"},
    )
    claims = service.verify_access(issued.token)
    assert issued.expires_in == 15 * 60
    assert issued.expires_at == keykit.NOW + 15 * 60
    assert (claims.sub, claims.sid, claims.org_id, claims.role) == ("user-1", "session-1", "org-1", "admin")
    assert (claims.iss, claims.aud, claims.client_id) == (keykit.ISSUER, keykit.AUDIENCE, "rowgate")
    assert claims.amr == ("pwd", "mfa")
    assert (claims.iat, claims.nbf, claims.exp) == (keykit.NOW, keykit.NOW, keykit.NOW + 900)
    assert claims.scopes == {"read", "write"}
    assert claims.perms == ("tasks:read",)
    assert dict(claims.extra) == {"tier": "gold"}
    assert len(claims.jti) >= 22


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_the_access_token_header_follows_rfc_9068(algorithm: str) -> None:
    ring = ring_for(algorithm)
    token = issue(keykit.service(ring))
    assert jwt.get_unverified_header(token) == {"alg": algorithm, "kid": ring.signing.kid, "typ": "at+jwt"}


@pytest.mark.parametrize("algorithm", ["EdDSA", "ES256", "RS256"])
def test_a_standard_library_verifies_our_tokens_from_the_published_jwks(algorithm: str) -> None:
    ring = ring_for(algorithm)
    service = keykit.service(ring)
    (jwk,) = ring.jwks()["keys"]
    options = {"verify_exp": False, "verify_iat": False, "verify_nbf": False}
    access = jwt.decode(
        issue(service), jwt.PyJWK(jwk), audience=keykit.AUDIENCE, issuer=keykit.ISSUER, options=options
    )
    assert access["sub"] == "user-1"
    id_token = service.issue_id(
        sub="user-1", sid="session-1", email="a@example.com", email_verified=True, auth_time=keykit.NOW
    ).token
    decoded = jwt.decode(id_token, jwt.PyJWK(jwk), audience=keykit.AUDIENCE, options=options)
    assert decoded["email"] == "a@example.com"


def test_an_id_token_carries_the_oidc_claims() -> None:
    service = keykit.service(ring_for("EdDSA"))
    issued = service.issue_id(
        sub="user-1",
        sid="session-1",
        email="a@example.com",
        email_verified=False,
        name="Ada",
        auth_time=keykit.NOW - 5,
        nonce="n-0S6_WzA2Mj",
        audience="my-spa",
    )
    header = jwt.get_unverified_header(issued.token)
    claims = jwt.decode(issued.token, options={"verify_signature": False})
    assert header["typ"] == "JWT"
    assert claims == {
        "iss": keykit.ISSUER,
        "aud": "my-spa",
        "sub": "user-1",
        "sid": "session-1",
        "email": "a@example.com",
        "email_verified": False,
        "name": "Ada",
        "nonce": "n-0S6_WzA2Mj",
        "auth_time": keykit.NOW - 5,
        "iat": keykit.NOW,
        "exp": keykit.NOW + 3600,
    }
    assert issued.expires_in == 3600


def test_an_id_token_without_nonce_or_name_leaves_them_out() -> None:
    service = keykit.service(ring_for("EdDSA"))
    token = service.issue_id(sub="u", sid="s", email="a@example.com", email_verified=True, auth_time=1).token
    claims = jwt.decode(token, options={"verify_signature": False})
    assert "nonce" not in claims
    assert "name" not in claims
    assert claims["aud"] == keykit.AUDIENCE


def test_an_id_token_is_not_an_access_token() -> None:
    service = keykit.service(ring_for("EdDSA"))
    token = service.issue_id(sub="u", sid="s", email="a@example.com", email_verified=True, auth_time=1).token
    with pytest.raises(InvalidToken, match="typ"):
        service.verify_access(token)


def test_org_and_role_are_optional() -> None:
    service = keykit.service(ring_for("EdDSA"))
    claims = service.verify_access(issue(service))
    assert (claims.org_id, claims.role, claims.scope, claims.perms) == (None, None, None, ())
    assert "org_id" not in jwt.decode(issue(service), options={"verify_signature": False})


@pytest.mark.parametrize("name", ["sub", "exp", "iss", "sid", "amr", "email", "nonce"])
def test_extras_cannot_override_claims_rowgate_sets(name: str) -> None:
    service = keykit.service(ring_for("EdDSA"))
    with pytest.raises(ValueError, match=name):
        issue(service, extra={name: "x"})


def test_every_token_gets_its_own_id() -> None:
    service = keykit.service(ring_for("EdDSA"))
    assert len({service.verify_access(issue(service)).jti for _ in range(20)}) == 20


def test_the_issuer_defaults_to_the_public_url() -> None:
    settings = Settings(server=ServerSettings(public_url="https://id.example.org/"))
    service = TokenService(settings, ring_for("EdDSA"), clock=lambda: keykit.NOW)
    assert service.verify_access(issue(service)).iss == "https://id.example.org"


# -- time -------------------------------------------------------------------------------------


def test_the_leeway_tolerates_small_clock_differences() -> None:
    clock = Clock()
    service = keykit.service(ring_for("EdDSA"), clock=clock, verify_cache_size=0)
    token = issue(service)
    clock.now = keykit.NOW + 900 + 29
    assert service.verify_access(token).sub == "user-1"
    clock.now = keykit.NOW + 900 + 30
    with pytest.raises(TokenExpired):
        service.verify_access(token)


def test_a_token_from_a_server_whose_clock_runs_ahead_passes_within_the_leeway() -> None:
    clock = Clock()
    ahead = keykit.service(ring_for("EdDSA"), clock=lambda: keykit.NOW + 20)
    behind = keykit.service(ring_for("EdDSA"), clock=clock)
    assert behind.verify_access(issue(ahead)).sub == "user-1"


# -- the verified-token cache ------------------------------------------------------------------


def test_a_second_verification_is_served_from_the_cache() -> None:
    service = keykit.service(ring_for("EdDSA"))
    token = issue(service)
    first = service.verify_access(token)
    assert (service.cache.hits, service.cache.misses) == (0, 1)
    second = service.verify_access(token)
    assert second is first
    assert (service.cache.hits, service.cache.misses) == (1, 1)


def test_an_expired_cached_token_is_refused() -> None:
    clock = Clock()
    service = keykit.service(ring_for("EdDSA"), clock=clock)
    token = issue(service)
    service.verify_access(token)
    clock.now = keykit.NOW + 900 + 30
    with pytest.raises(TokenExpired):
        service.verify_access(token)
    assert service.cache.hits == 0
    assert len(service.cache) == 0


def test_a_keyring_change_empties_the_cache_and_a_removed_key_stops_verifying() -> None:
    service = keykit.service(ring_for("EdDSA"))
    token = issue(service)
    service.verify_access(token)
    assert len(service.cache) == 1
    service.use_keyring(KeyRing.of(keykit.key("EdDSA", "next")))
    assert len(service.cache) == 0
    with pytest.raises(InvalidToken):
        service.verify_access(token)


def test_the_cache_is_bounded_and_drops_the_least_recently_used() -> None:
    service = keykit.service(ring_for("EdDSA"), verify_cache_size=2)
    a, b, c = (issue(service, sub=name) for name in "abc")
    service.verify_access(a)
    service.verify_access(b)
    service.verify_access(a)  # a is now the most recent
    service.verify_access(c)  # evicts b
    assert len(service.cache) == 2
    hits = service.cache.hits
    service.verify_access(a)
    assert service.cache.hits == hits + 1
    service.verify_access(b)
    assert service.cache.hits == hits + 1


def test_a_cache_size_of_zero_disables_it() -> None:
    service = keykit.service(ring_for("EdDSA"), verify_cache_size=0)
    token = issue(service)
    for _ in range(3):
        service.verify_access(token)
    assert service.cache.hits == 0
    assert len(service.cache) == 0


def test_failures_are_never_cached() -> None:
    service = keykit.service(ring_for("EdDSA"))
    token = issue(service)
    tampered = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    for _ in range(2):
        with pytest.raises(InvalidToken):
            service.verify_access(tampered)
    assert len(service.cache) == 0


def test_revocation_is_checked_on_every_call_even_for_a_cached_token() -> None:
    service = keykit.service(ring_for("EdDSA"))
    token = issue(service)
    revoked: set[str] = set()
    assert service.verify_access(token, revoked=revoked.__contains__).sid == "session-1"
    revoked.add("session-1")
    with pytest.raises(TokenRevoked):
        service.verify_access(token, revoked=revoked.__contains__)
    assert service.cache.hits == 1
    revoked.clear()
    assert service.verify_access(token, revoked=revoked.__contains__).sid == "session-1"


def test_a_token_signed_by_a_retired_key_verifies_until_the_key_expires() -> None:
    clock = Clock()
    old = keykit.key("EdDSA")
    service = keykit.service(KeyRing.of(old), clock=clock)
    token = issue(service)
    service.use_keyring(KeyRing.of(keykit.key("EdDSA", "new"), [old.retired(keykit.NOW + 3600)]))
    assert service.verify_access(token).sub == "user-1"
    assert jwt.get_unverified_header(issue(service))["kid"] == keykit.key("EdDSA", "new").kid


# -- discovery --------------------------------------------------------------------------------


def test_the_discovery_document_points_at_the_keys_and_endpoints() -> None:
    settings = Settings(
        server=ServerSettings(public_url="https://auth.example.com"),
        mounts=MountSettings(auth="/id/v2"),
        tokens=TokenSettings(algorithm="ES256"),
    )
    document = openid_configuration(settings)
    assert document["issuer"] == "https://auth.example.com"
    assert document["jwks_uri"] == "https://auth.example.com" + JWKS_PATH
    assert document["token_endpoint"] == "https://auth.example.com/id/v2/refresh"
    assert document["userinfo_endpoint"] == "https://auth.example.com/id/v2/me"
    assert document["id_token_signing_alg_values_supported"] == ["ES256"]
    assert {"sub", "sid", "org_id", "role", "amr"} <= set(document["claims_supported"])


def test_the_discovery_issuer_is_the_configured_issuer() -> None:
    settings = Settings(tokens=TokenSettings(issuer="https://issuer.example.com"))
    assert openid_configuration(settings)["issuer"] == "https://issuer.example.com"
