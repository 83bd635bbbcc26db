"""The façade's own signing key and the tokens it issues (its users' access tokens, for this gateway only)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import time
from pathlib import Path
from typing import Any

import jwt
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

log = logging.getLogger(__name__)


class SigningKey:
    """ES256 (P-256). From GATEWAY_OAUTH_PROXY_SIGNING_KEY_FILE (PEM) so every replica signs alike; without it a key
    is made at start, which is right for one replica only (tokens die with the process)."""

    def __init__(self, path: Path | None) -> None:
        if path is not None:
            loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
            if not isinstance(loaded, ec.EllipticCurvePrivateKey):
                raise ValueError("the signing key must be an EC P-256 private key (PEM)")
            self._key = loaded
        else:
            log.warning("GATEWAY_OAUTH_PROXY_SIGNING_KEY_FILE is not set: a signing key was made for this process only")
            self._key = ec.generate_private_key(ec.SECP256R1())
        public = jwt.algorithms.ECAlgorithm.to_jwk(self._key.public_key(), as_dict=True)
        der = self._key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.kid = hashlib.sha256(der).hexdigest()[:16]  # the same key gives the same id on every replica
        private = self._key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        self._derivation_key = hashlib.sha256(b"baw-gateway derivation\0" + private).digest()
        self._sealing = AESGCM(hashlib.sha256(b"baw-gateway sealing\0" + private).digest())
        self.jwk: dict[str, Any] = {**public, "kid": self.kid, "use": "sig", "alg": "ES256"}

    def derive(self, label: str, data: str) -> str:
        """A secret derived from this key, `label` and `data` (HMAC-SHA256, base64url): the same on every replica
        that shares the key, so a value the façade needs later (an upstream PKCE verifier) is worked out again
        instead of stored."""
        mac = hmac.new(self._derivation_key, f"{label}\0{data}".encode("utf-8", "surrogatepass"), hashlib.sha256)
        return base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode("ascii")

    def seal(self, plain: str) -> str:
        """`plain` encrypted and authenticated (AES-256-GCM, a key derived from this one): what the façade keeps
        of a user's upstream tokens, so Redis, a backup or a dump holds nothing usable."""
        nonce = secrets.token_bytes(12)
        return base64.urlsafe_b64encode(nonce + self._sealing.encrypt(nonce, plain.encode(), None)).decode("ascii")

    def unseal(self, sealed: str) -> str | None:
        """What `seal` sealed, or None for anything else (another key, a changed byte)."""
        try:
            raw = base64.urlsafe_b64decode(sealed.encode("ascii"))
            return self._sealing.decrypt(raw[:12], raw[12:], None).decode()
        except (ValueError, InvalidTag):
            return None

    def issue(
        self, issuer: str, subject: str, audience: str, scope: str, client_id: str, lifetime_s: float, **extra: Any
    ) -> str:
        now = int(time.time())
        claims = {
            "iss": issuer,
            "sub": subject,
            "aud": audience,
            "iat": now,
            "nbf": now,
            "exp": now + int(lifetime_s),
            "scope": scope,
            "client_id": client_id,
            "jti": secrets.token_hex(12),
            **extra,
        }
        return jwt.encode(claims, self._key, algorithm="ES256", headers={"kid": self.kid})
