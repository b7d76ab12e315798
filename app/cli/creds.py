"""``patchdesk cred add|list|rm|test`` and ``patchdesk hostkey list|accept``: the vault's
credentials and the pinned SSH host keys."""

from __future__ import annotations

import argparse
import getpass
from typing import Any, TextIO

from app.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    Subparsers,
    Table,
    UsageError,
    emit,
    one_asset,
    opened,
    secret,
    unlock,
)
from app.core.credentials import Scope, SudoMode, WinRMSettings
from app.core.errors import FieldError, UserError, ValidationError


def cmd_cred_add(args: argparse.Namespace, out: TextIO) -> int:
    try:
        scopes = tuple(Scope.parse(s) for s in args.scope)  # chosen, never implied
    except ValueError as exc:
        raise ValidationError([FieldError("scope", str(exc))]) from None
    if bool(args.ssh_user) == bool(args.winrm_user):
        raise UsageError("give either --ssh-user (SSH) or --winrm-user (WinRM)")
    password = secret(args.password_stdin, args.password_file, "password")
    if args.ask_password:
        password = getpass.getpass(f"Password for {args.ssh_user or args.winrm_user}: ")
    if args.winrm_user:
        return _add_winrm(args, out, scopes, password)
    if args.winrm_auth or args.winrm_http or args.ca_file or args.allow_unencrypted or \
            args.skip_cert_validation:
        raise UsageError("--winrm-auth, --winrm-http, --ca-file, --allow-unencrypted and "
                         "--skip-cert-validation are for WinRM credentials (--winrm-user)")
    sudo_password = secret(args.sudo_password_stdin, args.sudo_password_file, "sudo password")
    # A Mac's volume owner (Apple silicon installs): a separate secret, stdin or file only.
    owner_password = secret(args.macos_owner_password_stdin, args.macos_owner_password_file,
                            "macOS volume owner's password")
    if bool(args.macos_owner) != bool(owner_password):
        raise UsageError("--macos-owner needs --macos-owner-password-stdin or "
                         "--macos-owner-password-file (and they need --macos-owner)")
    with opened(args, create=True) as service:
        unlock(service, args, create=True)
        cred = service.credentials.add_ssh_credential(
            args.name, args.ssh_user, password=password, key_file=args.ssh_key,
            sudo_mode=SudoMode(args.sudo), sudo_password=sudo_password,
            port=args.port, scopes=scopes, macos_owner=args.macos_owner or "",
            macos_owner_password=owner_password)
    emit(args, out, _cred_json(cred), f"added credential '{cred.name}' for {cred.username} "
                                      f"({', '.join(str(s) for s in cred.scopes)})\n")
    return EXIT_OK


def _add_winrm(args: argparse.Namespace, out: TextIO, scopes: tuple[Scope, ...],
               password: str | None) -> int:
    if not password:
        raise UsageError("a WinRM credential needs a password (--password-stdin, "
                         "--password-file or --ask-password)")
    if args.ssh_key or args.sudo_password_stdin or args.sudo_password_file or \
            args.macos_owner:
        raise UsageError("--ssh-key, sudo passwords and --macos-owner are for SSH "
                         "credentials")
    port = args.winrm_port or args.port
    with opened(args, create=True) as service:
        unlock(service, args, create=True)
        cred = service.credentials.add_winrm_credential(
            args.name, args.winrm_user, password=password, auth=args.winrm_auth or "ntlm",
            https=not args.winrm_http, port=port, ca_file=args.ca_file,
            allow_unencrypted=args.allow_unencrypted,
            skip_cert_hosts=tuple(args.skip_cert_validation or ()), scopes=scopes)
    settings = WinRMSettings.from_options(cred.options)
    text = (f"added WinRM credential '{cred.name}' for {cred.username} "
            f"({settings.describe(cred.port)}; {', '.join(str(s) for s in cred.scopes)})\n")
    if settings.allow_unencrypted:
        text += ("WARNING: Basic authentication may now send this password and every "
                 "command in clear text over HTTP\n")
    if settings.skip_cert_hosts:
        text += ("WARNING: the certificate of " + ", ".join(settings.skip_cert_hosts)
                 + " is not validated: anyone on the path can pose as that host\n")
    emit(args, out, _cred_json(cred), text)
    return EXIT_OK


def _cred_json(cred: Any) -> dict[str, Any]:
    data = {"name": cred.name, "kind": str(cred.kind), "username": cred.username,
            "port": cred.port, "key_path": cred.key_path, "sudo_mode": str(cred.sudo_mode),
            "scopes": [str(s) for s in cred.scopes], "has_password": cred.has_password,
            "has_key": cred.has_key, "has_sudo_password": cred.has_sudo_password}
    if cred.options.get("macos_owner"):
        data["macos_owner"] = cred.options["macos_owner"]
    if str(cred.kind) == "winrm":
        settings = WinRMSettings.from_options(cred.options)
        data.update({"auth": settings.auth, "transport": "https" if settings.https
                     else "http", "ca": settings.ca_name or None,
                     "allow_unencrypted": settings.allow_unencrypted,
                     "skip_cert_validation_for": list(settings.skip_cert_hosts)})
    return data


def cmd_cred_list(args: argparse.Namespace, out: TextIO) -> int:
    with opened(args) as service:
        creds = service.credentials.credentials()
    emit(args, out, [_cred_json(c) for c in creds],
         Table([[c.name, str(c.kind), c.username,
                 WinRMSettings.from_options(c.options).describe(c.port)
                 if str(c.kind) == "winrm" else str(c.sudo_mode),
                 ", ".join(str(s) for s in c.scopes),
                 "+".join(k for k, v in (("password", c.has_password), ("key", c.has_key))
                          if v)] for c in creds],
               ["NAME", "KIND", "USER", "SUDO / WINRM", "SCOPE", "SECRETS"]))
    return EXIT_OK


def cmd_cred_rm(args: argparse.Namespace, out: TextIO) -> int:
    with opened(args) as service:
        service.credentials.delete_credential(args.name)
    out.write(f"deleted credential '{args.name}'\n")
    return EXIT_OK


def cmd_cred_test(args: argparse.Namespace, out: TextIO) -> int:
    with opened(args) as service:
        unlock(service, args)
        asset = one_asset(service, args.selector)
        result = service.credentials.test_credential(args.name, asset)
    if result.get("kind") == "winrm":
        emit(args, out, result,
             f"{result['asset']}: login as {result['user']} "
             f"{'ok' if result['login'] else 'FAILED'} with {result['described']} "
             f"(encryption: {result['encryption']}; certificate: {result['certificate']})\n")
        return EXIT_OK if result["login"] else EXIT_FAILED
    emit(args, out, result, f"{result['asset']}: login as {result['user']} ok; sudo "
                            f"{'ok' if result['sudo'] else 'REFUSED'}\n")
    return EXIT_OK if result["sudo"] else EXIT_FAILED


def cmd_hostkey_list(args: argparse.Namespace, out: TextIO) -> int:
    with opened(args) as service:
        keys = service.credentials.host_keys()
    emit(args, out, keys,
         Table([[str(k["host"]), str(k["port"]), str(k["key_type"]), str(k["fingerprint"]),
                 str(k["accepted_by"])] for k in keys],
               ["HOST", "PORT", "TYPE", "FINGERPRINT", "ACCEPTED BY"]))
    return EXIT_OK


def cmd_hostkey_accept(args: argparse.Namespace, out: TextIO) -> int:
    with opened(args) as service:
        key = service.credentials.fetch_host_key(args.host, args.port)
        if key.fingerprint != args.fingerprint:
            raise UserError(f"{args.host} now presents {key.fingerprint}, not "
                            f"{args.fingerprint}; nothing was accepted")
        service.credentials.accept_host_key(args.host, args.port, key.key_type, key.key_b64)
    out.write(f"accepted {key.fingerprint} for {args.host}:{args.port}\n")
    return EXIT_OK


def register(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    """Declare this group's sub-commands (``common`` adds ``--json``)."""
    cred = sub.add_parser("cred", help="credentials in the encrypted vault").add_subparsers(
        dest="cred_command", metavar="ACTION", required=True)
    p = cred.add_parser("add", parents=[common], help="store an SSH or WinRM credential",
                        description="Secrets are read from stdin, a file or a prompt — never "
                                    "from the command line. WinRM uses HTTPS (5986) with "
                                    "certificate validation unless told otherwise.")
    p.add_argument("name")
    p.add_argument("--ssh-user", metavar="USER", help="an SSH credential for this user")
    p.add_argument("--winrm-user", metavar="USER",
                   help="a WinRM credential (Windows) for this user, e.g. Administrator or "
                        "DOMAIN\\user")
    p.add_argument("--winrm-auth", choices=["ntlm", "kerberos", "basic"],
                   help="WinRM authentication (default ntlm; basic only over HTTPS or with "
                        "--allow-unencrypted)")
    p.add_argument("--winrm-http", action="store_true",
                   help="WinRM over HTTP 5985 (NTLM/Kerberos encrypt every message) instead "
                        "of HTTPS 5986")
    p.add_argument("--winrm-port", type=int, metavar="N", help="WinRM port if not the default")
    p.add_argument("--ca-file", metavar="FILE",
                   help="PEM CA certificate that signed the hosts' WinRM certificates "
                        "(sealed into the vault); default: the system CAs")
    p.add_argument("--allow-unencrypted", action="store_true",
                   help="DANGEROUS: let Basic authentication send the password and every "
                        "command in clear text over HTTP (the host must allow it too)")
    p.add_argument("--skip-cert-validation", action="append", metavar="HOST",
                   help="DANGEROUS: do not validate the HTTPS certificate of this host "
                        "(address or name; repeatable; audited)")
    p.add_argument("--ssh-key", metavar="FILE", help="private key file (sealed into the vault)")
    p.add_argument("--password-stdin", action="store_true",
                   help="read the login password from the first line of stdin")
    p.add_argument("--password-file", metavar="FILE")
    p.add_argument("--ask-password", action="store_true", help="prompt for the password")
    p.add_argument("--sudo", choices=["password", "nopasswd", "root"], default="password",
                   help="how the user becomes root (default: sudo with a password)")
    p.add_argument("--sudo-password-stdin", action="store_true",
                   help="read the sudo password from the next line of stdin "
                        "(default: the login password)")
    p.add_argument("--sudo-password-file", metavar="FILE")
    p.add_argument("--macos-owner", metavar="USER",
                   help="a Mac's volume owner: Apple-silicon Macs install Apple updates only "
                        "with their password (kept apart from the SSH login)")
    p.add_argument("--macos-owner-password-stdin", action="store_true",
                   help="read the volume owner's password from the next line of stdin")
    p.add_argument("--macos-owner-password-file", metavar="FILE")
    p.add_argument("--port", type=int)
    p.add_argument("--scope", action="append", metavar="SCOPE", required=True,
                   help="which hosts get it: all, asset:ID, tag:NAME or ring:NAME; "
                        "repeatable (required: a password goes only where you choose)")
    p.set_defaults(func=cmd_cred_add)
    p = cred.add_parser("list", parents=[common], help="list credentials (no secrets)")
    p.set_defaults(func=cmd_cred_list)
    p = cred.add_parser("rm", parents=[common], help="delete a credential")
    p.add_argument("name")
    p.set_defaults(func=cmd_cred_rm)
    p = cred.add_parser("test", parents=[common],
                        help="log in to an asset (SSH: check sudo; WinRM: say which auth and "
                             "transport worked)")
    p.add_argument("name")
    p.add_argument("selector", help="asset id, host name, IP or MAC")
    p.set_defaults(func=cmd_cred_test)

    hostkey = sub.add_parser("hostkey", help="pinned SSH host keys").add_subparsers(
        dest="hostkey_command", metavar="ACTION", required=True)
    p = hostkey.add_parser("list", parents=[common], help="pinned keys")
    p.set_defaults(func=cmd_hostkey_list)
    p = hostkey.add_parser("accept", parents=[common],
                           help="accept a host's new key after checking its fingerprint")
    p.add_argument("host")
    p.add_argument("--port", type=int, default=22)
    p.add_argument("--fingerprint", required=True, metavar="SHA256:...",
                   help="the fingerprint you verified (from the warning)")
    p.set_defaults(func=cmd_hostkey_accept)
