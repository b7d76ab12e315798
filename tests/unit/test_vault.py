"""The credential vault's cryptography: wrong passwords, tampering, swapped blobs."""

import pytest

from app.core.errors import UserError
from app.remote.vault import WrongMasterPasswordError, create_vault, unlock_vault

FAST = {"n": 2**10, "r": 8, "p": 1}  # the real default is 2**15; tests need speed only


def test_seal_and_open_round_trip() -> None:
    header, key = create_vault("correct horse", FAST)
    blob = key.seal({"password": "s3cret!", "sudo_password": None}, "office")
    assert b"s3cret" not in blob
    again = unlock_vault(header, "correct horse")
    assert again.open(blob, "office") == {"password": "s3cret!", "sudo_password": None}


def test_wrong_master_password() -> None:
    header, _ = create_vault("correct horse", FAST)
    with pytest.raises(WrongMasterPasswordError):
        unlock_vault(header, "wrong horse")


def test_blob_bound_to_its_credential_and_tamper_evident() -> None:
    _, key = create_vault("correct horse", FAST)
    blob = key.seal({"password": "x"}, "office")
    with pytest.raises(UserError, match="damaged or was moved"):
        key.open(blob, "other")
    flipped = blob[:-1] + bytes([blob[-1] ^ 1])
    with pytest.raises(UserError, match="damaged"):
        key.open(flipped, "office")


def test_short_master_password_refused() -> None:
    with pytest.raises(UserError, match="at least 8"):
        create_vault("short")


def test_key_repr_hides_the_key() -> None:
    _, key = create_vault("correct horse", FAST)
    assert key.key.hex() not in repr(key)


# [12].13 -----------------------------------------------------------------------------
import json  # noqa: E402
import os  # noqa: E402
from dataclasses import replace  # noqa: E402

from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: E402

from app.core.credentials import (  # noqa: E402
    Credential,
    CredentialKind,
    Scope,
    VaultHeader,
)


@pytest.mark.parametrize("params", [
    {"n": 3, "r": 8, "p": 1},            # not a power of two: hashlib raises ValueError
    {"n": 2**10, "r": 8, "p": 10**6},    # unbounded parallelism: hangs for hours
    {"n": 2**40, "r": 8, "p": 1},        # terabytes of memory
    {"n": 2**10, "r": 0, "p": 1},
    {"n": 2**10, "r": 8},                # a parameter missing
    {"n": "1024", "r": 8, "p": 1},       # not a number
])
def test_scrypt_parameters_from_the_file_are_checked(params: dict[str, object]) -> None:
    header, _ = create_vault("correct horse", FAST)
    crafted = VaultHeader(header.salt, params, header.verifier)  # type: ignore[arg-type]
    with pytest.raises(UserError, match=r"vault header.*damaged or crafted"):
        unlock_vault(crafted, "correct horse")


def _cred(**changes: object) -> Credential:
    base = Credential(name="office", kind=CredentialKind.SSH, username="admin", port=22,
                      scopes=(Scope.parse("tag:office"),))
    return replace(base, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize("changed", [
    {"username": "root"}, {"port": 2222}, {"kind": CredentialKind.WINRM},
    {"scopes": (Scope.parse("all"),)}, {"name": "other"},
    {"options": {"winrm_transport": "http"}},
])
def test_sealed_secret_is_bound_to_user_port_kind_and_scope(changed: dict[str, object]) -> None:
    _, key = create_vault("correct horse", FAST)
    cred = _cred()
    blob = key.seal({"password": "x"}, cred.binding())
    assert key.open(blob, cred.binding()) == {"password": "x"}
    with pytest.raises(UserError, match="damaged or was moved"):
        key.open(blob, _cred(**changed).binding())


def test_a_blob_sealed_by_an_older_version_still_opens_and_says_so() -> None:
    _, key = create_vault("correct horse", FAST)
    # the format before [12].13: nonce + AES-GCM with only the name as associated data
    nonce = os.urandom(12)
    old = nonce + AESGCM(key.key).encrypt(nonce, json.dumps({"password": "x"}).encode(),
                                          b"patchdesk:credential:office")
    secrets, legacy = key.open_any(old, _cred().binding(), legacy_name="office")
    assert secrets == {"password": "x"} and legacy
    new = key.seal({"password": "x"}, _cred().binding())
    assert key.open_any(new, _cred().binding(), legacy_name="office") == ({"password": "x"},
                                                                        False)
