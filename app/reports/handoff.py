"""Files other tools import ([16], [15]): the asset list for a PSA / ticketing system, and
the Ansible inventory. Pure functions over the site's assets and credentials' public parts;
the reports service writes and audits the files.

PSA asset list: one row per asset with the field names PSA and documentation tools map
without a manual mapping step — IT Glue's configuration fields (Name, Type, Status, Serial
Number, Manufacturer, Model, ...; UTF-8, a header row, dates as yyyy-mm-dd, see its "File
Import and Matching Guide") which ConnectWise Manage and Autotask configuration imports
also name this way ("Serial Number", "IP Address", "MAC Address", "Warranty Expiration").
``Organization`` is the site's client (or site name), so a file per site imports under the
right company. Cells a spreadsheet would run as a formula are neutralised.

Ansible inventory: YAML written by the small emitter below (no YAML library is a
dependency): every string double-quoted with escapes, so a host name, tag or location can
never become YAML syntax. Groups by ring, OS family, location and tag; host variables are
connection settings only (address, port, user, ``winrm`` for Windows), never a secret.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from app.core.credentials import Credential, CredentialKind, SudoMode, credential_for
from app.core.models import Asset, AssetKind, OsFamily

__all__ = ["ANSIBLE_SKIPPED_FAMILIES", "ANSIBLE_SKIPPED_KINDS", "PSA_COLUMNS",
           "ansible_inventory", "group_name", "psa_records", "to_yaml", "yaml_scalar"]

PSA_COLUMNS = ("Organization", "Name", "Type", "Status", "Serial Number", "Manufacturer",
               "Model", "OS", "IP Address", "MAC Address", "Location", "Owner/Contact",
               "Warranty Expiration", "Notes")

#: IT Glue / PSA configuration types for our asset kinds.
_PSA_TYPES = {
    AssetKind.SERVER: "Server", AssetKind.WORKSTATION: "Workstation",
    AssetKind.LAPTOP: "Workstation", AssetKind.VIRTUAL_MACHINE: "Server",
    AssetKind.PRINTER: "Printer", AssetKind.NETWORK_DEVICE: "Network Device",
    AssetKind.STORAGE: "Storage", AssetKind.PHONE_TABLET: "Mobile Device",
}
_FORMULA_START = ("=", "+", "@", "\t", "\r")


def _cell(value: str) -> str:
    """A CSV cell a spreadsheet will not run: text starting like a formula gets a leading
    apostrophe (OWASP's CSV-injection advice); "-" only when not a number."""
    if value.startswith(_FORMULA_START) or (
            value.startswith("-") and not re.fullmatch(r"-[\d.]+", value)):
        return "'" + value
    return value


def _os_text(asset: Asset) -> str:
    if asset.os_name:
        return " ".join(p for p in (asset.os_name, asset.os_version) if p)
    return "" if asset.os_family is OsFamily.UNKNOWN else str(asset.os_family)


def psa_records(assets: Sequence[Asset], organization: str) -> list[dict[str, str]]:
    """One PSA import row per asset (:data:`PSA_COLUMNS`)."""
    out = []
    for a in assets:
        kind = _PSA_TYPES.get(a.kind, "Other" if a.kind is not AssetKind.UNKNOWN else "")
        row = {
            "Organization": organization, "Name": a.label, "Type": kind, "Status": "Active",
            "Serial Number": a.serial, "Manufacturer": a.manufacturer or a.vendor,
            "Model": a.model, "OS": _os_text(a), "IP Address": a.primary_ip,
            "MAC Address": a.primary_mac.upper(), "Location": a.location,
            "Owner/Contact": a.owner or a.support_contact,
            "Warranty Expiration": a.warranty_end.isoformat() if a.warranty_end else "",
            "Notes": a.notes,
        }
        out.append({k: _cell(v) for k, v in row.items()})
    return out


# -- Ansible ---------------------------------------------------------------------------------
#: OS families and kinds Ansible cannot manage with its ssh/winrm connections (printers,
#: switches): left out of the inventory.
ANSIBLE_SKIPPED_FAMILIES = frozenset({OsFamily.PRINTER_FIRMWARE, OsFamily.NETWORK_OS})
ANSIBLE_SKIPPED_KINDS = frozenset({AssetKind.PRINTER, AssetKind.NETWORK_DEVICE})


def group_name(prefix: str, value: str) -> str:
    """A valid Ansible group name (letters, digits, underscores; not starting with a digit):
    ``location`` + "HQ rack 2" → ``location_hq_rack_2``."""
    slug = re.sub(r"[^a-z0-9]+", "_", value.lower()).strip("_") or "none"
    return f"{prefix}_{slug}"


def _host_name(asset: Asset, taken: set[str]) -> str:
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", asset.label).strip("_.-") or f"asset{asset.id}"
    if name in taken:
        name = f"{name}_{asset.id}"
    taken.add(name)
    return name


def _host_vars(asset: Asset, credentials: Sequence[Credential]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    address = asset.primary_ip or asset.hostname
    if address:
        out["ansible_host"] = address
    if asset.os_family is OsFamily.WINDOWS:
        cred = credential_for(asset, credentials, CredentialKind.WINRM)
        port = cred.port if cred and cred.port else 5986
        out.update(ansible_connection="winrm", ansible_port=port,
                   ansible_winrm_scheme="http" if port == 5985 else "https")
        if cred and cred.options.get("transport"):
            out["ansible_winrm_transport"] = cred.options["transport"]
    else:
        cred = credential_for(asset, credentials, CredentialKind.SSH)
        out.update(ansible_connection="ssh", ansible_port=cred.port if cred and cred.port
                   else 22)
        if cred is not None and cred.sudo_mode is not SudoMode.ROOT:
            out.update(ansible_become=True, ansible_become_method="sudo")
    if cred is not None:
        out["ansible_user"] = cred.username
    out["patchdesk_asset_id"] = int(asset.id or 0)
    return out


def ansible_inventory(assets: Iterable[Asset], credentials: Sequence[Credential]
                      ) -> tuple[dict[str, Any], list[Asset]]:
    """The inventory as Ansible's YAML structure (``all: hosts / children``), and the assets
    left out (printers and network devices).

    Host variables hold connection settings from the credential assigned to each asset
    (its user and port) — never a password, key or passphrase: those stay in the vault.
    """
    hosts: dict[str, Any] = {}
    groups: dict[str, list[str]] = {}
    skipped: list[Asset] = []
    taken: set[str] = set()
    for asset in sorted(assets, key=lambda a: (a.label.lower(), a.id or 0)):
        if asset.os_family in ANSIBLE_SKIPPED_FAMILIES or asset.kind in ANSIBLE_SKIPPED_KINDS:
            skipped.append(asset)
            continue
        name = _host_name(asset, taken)
        hosts[name] = _host_vars(asset, credentials)
        memberships = [group_name("os", str(asset.os_family))]
        if str(asset.ring):
            memberships.append(group_name("ring", str(asset.ring)))
        if asset.location:
            memberships.append(group_name("location", asset.location))
        memberships += [group_name("tag", t) for t in asset.tags]
        for group in memberships:
            members = groups.setdefault(group, [])
            if name not in members:
                members.append(name)
    children = {g: {"hosts": dict.fromkeys(members)}
                for g, members in sorted(groups.items())}
    body: dict[str, Any] = {"hosts": hosts}
    if children:
        body["children"] = children
    return {"all": body}, skipped


def yaml_scalar(value: Any) -> str:
    """One YAML scalar: null, a boolean, an integer, or a double-quoted string in which
    every character that YAML could read as a line break or control is escaped."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    text = str(value)
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif 0x20 <= code < 0x7F or (code >= 0xA0 and ch.isprintable()
                                      and code not in (0x2028, 0x2029, 0xFEFF)
                                      and not 0xD800 <= code < 0xE000):
            out.append(ch)
        elif code <= 0xFFFF:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


def to_yaml(data: Mapping[str, Any], indent: int = 0) -> str:
    """Block-style YAML of nested mappings (string keys) and scalars; an empty mapping is
    ``{}``. Lists are not needed by the inventory and are refused."""
    lines: list[str] = []
    pad = "  " * indent
    for key, value in data.items():
        head = f"{pad}{yaml_scalar(str(key))}:"
        if isinstance(value, Mapping):
            if value:
                lines.append(head)
                lines.append(to_yaml(value, indent + 1).rstrip("\n"))
            else:
                lines.append(f"{head} {{}}")
        elif isinstance(value, list | tuple | set):
            raise TypeError("to_yaml writes mappings and scalars only")
        else:
            lines.append(f"{head} {yaml_scalar(value)}")
    return "\n".join(lines) + "\n"
