"""Whether the Ansible backend can run here: ansible-core and ansible-runner installed (the
optional extra ``.[ansible]``), ``ansible-playbook`` found, and which collections exist."""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from functools import cache
from pathlib import Path

#: The execution engines, with what each does (the CLI's and the wizard's words).
ENGINES: dict[str, str] = {
    "builtin": "PatchDesk's own engine: SSH sessions from this computer, every step a "
               "package job on the host that a killed run re-attaches to. Best up to a few "
               "hundred hosts.",
    "ansible": "Ansible (ansible-runner): the same plan, gates, approval and rollback, run "
               "as generated playbooks with Ansible's apt/dnf/zypper modules and its forks. "
               "For big fleets, or to hand the playbooks to AWX / Automation Platform.",
}


def playbook_binary() -> str:
    """``ansible-playbook`` next to this Python (the venv with the extra), else on PATH;
    "" when there is none."""
    here = Path(sys.executable).with_name("ansible-playbook")
    if here.exists():
        return str(here)
    return shutil.which("ansible-playbook") or ""


@cache
def missing_reason() -> str:
    """Why the Ansible engine cannot run here ("" when it can)."""
    missing = [name for name, module in (("ansible-core", "ansible"),
                                         ("ansible-runner", "ansible_runner"))
               if importlib.util.find_spec(module) is None]
    if missing:
        return (f"{' and '.join(missing)} not installed (pip install 'patchdesk[ansible]')")
    if not playbook_binary():
        return "ansible-playbook was not found next to this Python or on PATH"
    if shutil.which("ssh-agent") is None:
        return "ssh-agent (OpenSSH) is needed to hand keys to Ansible and was not found"
    return ""


def available() -> bool:
    """ansible-core and ansible-runner are installed and usable."""
    return not missing_reason()


def collection_paths() -> list[Path]:
    """Where Ansible looks for collections (its defaults, the environment's setting and
    this Python's site-packages)."""
    configured = os.environ.get("ANSIBLE_COLLECTIONS_PATH", "")
    paths = [Path(p).expanduser() for p in configured.split(os.pathsep) if p]
    paths += [Path("~/.ansible/collections").expanduser(),
              Path("/usr/share/ansible/collections")]
    paths += [Path(p) for p in sys.path if p and Path(p, "ansible_collections").is_dir()]
    return paths


def collection_present(name: str) -> bool:
    """Whether a collection such as ``ansible.windows`` is installed."""
    namespace, _, collection = name.partition(".")
    return any((base / "ansible_collections" / namespace / collection).is_dir()
               for base in collection_paths())


def engine_help() -> str:
    """The engines in words, with what is missing for Ansible (the CLI's help)."""
    reason = missing_reason()
    return "; ".join(f"{name}: {text}" for name, text in ENGINES.items()) + (
        f" (ansible is not available: {reason})" if reason else "")
