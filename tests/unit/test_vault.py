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
