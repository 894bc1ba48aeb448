"""Encryption of sensitive fields at rest, and keyed hashes for exact search.

Values are sealed with AES-256-GCM (default) or SM4-GCM (国密, GRIDGOV_FIELD_CIPHER=sm4-gcm) under the key
in GRIDGOV_FIELD_KEY (32 bytes, base64). A sealed value reads ``v1:<cipher>:<key id>:<base64 nonce+ct+tag>``,
so rows sealed under an earlier key (GRIDGOV_FIELD_KEY_OLD) stay readable while `gridgov rotate-field-key`
re-seals them. The search hash is an HMAC (SHA-256, or SM3 with SM4) under a key derived from the field key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from dataclasses import dataclass
from functools import cache, cached_property, lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

CIPHERS = ("aes-256-gcm", "sm4-gcm")
_DEV_KEY = hashlib.sha256(b"gridgov development field key: never use in production").digest()


class DecryptionError(Exception):
    """A sealed value that no configured key opens (wrong key, or tampered data)."""


@dataclass(frozen=True)
class FieldKey:
    raw: bytes

    @cached_property
    def key_id(self) -> str:
        return hashlib.sha256(self.raw).hexdigest()[:8]

    def derived(self, purpose: bytes, length: int) -> bytes:
        return _derive(self.raw, purpose, length)


@lru_cache(maxsize=64)
def _derive(raw: bytes, purpose: bytes, length: int) -> bytes:
    """Sub-keys per purpose (HKDF-SHA256), derived once per process."""
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=b"gridgov " + purpose).derive(raw)


def _parse_key(value: str, name: str) -> FieldKey:
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ImproperlyConfigured(f"{name} must be 32 bytes in base64.") from exc
    if len(raw) != 32:
        raise ImproperlyConfigured(f"{name} must be 32 bytes in base64 (got {len(raw)} bytes).")
    return FieldKey(raw)


@cache
def current_key() -> FieldKey:
    if settings.FIELD_KEY:
        return _parse_key(settings.FIELD_KEY, "GRIDGOV_FIELD_KEY")
    if settings.DEBUG or settings.TESTING:
        return FieldKey(_DEV_KEY)
    raise ImproperlyConfigured("Set GRIDGOV_FIELD_KEY (32 random bytes, base64) to store sensitive data.")


@cache
def known_keys() -> dict[str, FieldKey]:
    keys = {current_key().key_id: current_key()}
    if settings.FIELD_KEY_OLD:
        old = _parse_key(settings.FIELD_KEY_OLD, "GRIDGOV_FIELD_KEY_OLD")
        keys.setdefault(old.key_id, old)
    return keys


def cipher_name() -> str:
    name = settings.FIELD_CIPHER
    if name not in CIPHERS:
        raise ImproperlyConfigured(f"GRIDGOV_FIELD_CIPHER must be one of {', '.join(CIPHERS)}.")
    return name


@lru_cache(maxsize=16)
def _aesgcm(raw: bytes) -> AESGCM:
    """The AES-GCM object of a key, built once per process (it holds only the key; nonces are per call)."""
    return AESGCM(_derive(raw, b"aes-256-gcm", 32))


def _seal(name: str, key: FieldKey, plaintext: bytes, nonce: bytes) -> bytes:
    if name == "aes-256-gcm":
        return _aesgcm(key.raw).encrypt(nonce, plaintext, None)
    encryptor = Cipher(algorithms.SM4(key.derived(b"sm4-gcm", 16)), modes.GCM(nonce)).encryptor()
    return encryptor.update(plaintext) + encryptor.finalize() + encryptor.tag


def _open(name: str, key: FieldKey, sealed: bytes, nonce: bytes) -> bytes:
    if name == "aes-256-gcm":
        return _aesgcm(key.raw).decrypt(nonce, sealed, None)
    body, tag = sealed[:-16], sealed[-16:]
    decryptor = Cipher(algorithms.SM4(key.derived(b"sm4-gcm", 16)), modes.GCM(nonce, tag)).decryptor()
    return decryptor.update(body) + decryptor.finalize()


def encrypt(value: str) -> str:
    """Seals a text value; empty stays empty."""
    if not value:
        return ""
    name, key, nonce = cipher_name(), current_key(), os.urandom(12)
    sealed = _seal(name, key, value.encode(), nonce)
    return f"v1:{name}:{key.key_id}:{base64.b64encode(nonce + sealed).decode()}"


def decrypt(token: str) -> str:
    if not token:
        return ""
    try:
        version, name, key_id, payload = token.split(":", 3)
        key = known_keys()[key_id]
        blob = base64.b64decode(payload)
        if version != "v1" or name not in CIPHERS:
            raise ValueError(version)
        return _open(name, key, blob[12:], blob[:12]).decode()
    except KeyError as exc:
        raise DecryptionError("sealed under a key that is not configured") from exc
    except (ValueError, InvalidTag, binascii.Error, UnicodeDecodeError) as exc:
        raise DecryptionError("not a valid sealed value") from exc


def needs_reseal(token: str) -> bool:
    """True if the value is sealed under an old key or another cipher than the configured one."""
    if not token:
        return False
    parts = token.split(":", 3)
    return len(parts) != 4 or parts[1] != cipher_name() or parts[2] != current_key().key_id


def search_hash(value: str) -> str:
    """Keyed hash of a normalised value, for exact search and de-duplication without decrypting."""
    if not value:
        return ""
    key = current_key()
    if cipher_name() == "sm4-gcm":
        mac = crypto_hmac.HMAC(key.derived(b"search sm3", 32), hashes.SM3())
        mac.update(value.encode())
        return mac.finalize().hex()
    mac = _search_mac(key.raw).copy()  # the keyed state is copied, not set up again for each value
    mac.update(value.encode())
    return mac.hexdigest()


@lru_cache(maxsize=16)
def _search_mac(raw: bytes) -> hmac.HMAC:
    """HMAC-SHA256 under the search key of a field key, keyed once per process; callers copy it."""
    return hmac.new(_derive(raw, b"search sha256", 32), digestmod=hashlib.sha256)


def reset_caches() -> None:
    """For tests and key rotation: forget the parsed keys."""
    current_key.cache_clear()
    known_keys.cache_clear()
    _derive.cache_clear()
    _aesgcm.cache_clear()
    _search_mac.cache_clear()


# Other apps' sealed columns without a search hash (a case reporter's phone, a webhook secret …): each app
# registers them in its AppConfig.ready(), and ``gridgov rotate-field-key`` re-seals them after the persons.
_SEALED_COLUMNS: list[tuple[str, str]] = []


def register_sealed_column(model_label: str, field: str) -> None:
    if (model_label, field) not in _SEALED_COLUMNS:
        _SEALED_COLUMNS.append((model_label, field))


def sealed_columns() -> list[tuple[str, str]]:
    return list(_SEALED_COLUMNS)
