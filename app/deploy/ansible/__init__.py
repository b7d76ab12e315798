"""The Ansible execution backend: PatchDesk's deployment plan run as generated playbooks
through ansible-runner (the optional extra ``.[ansible]``).

PatchDesk keeps the plan, the gates, approvals, the audit log and the reports; Ansible
executes each step on the hosts: the read-only checks run the same driver commands as the
built-in engine (so both engines record the same thing), installs and rollbacks go through
Ansible's package modules with exact versions, reboots through its reboot module.

* :mod:`.availability` — whether ansible-core, ansible-runner and the collections are here;
* :mod:`.playbooks` — the generated playbooks and inventories (pure text);
* :mod:`.runner` — one ansible-runner run in a private 0700 folder, results per host;
* :mod:`.replay` — the driver code run against results Ansible collected;
* :mod:`.engine` — :class:`AnsibleDeployEngine`, the engine's steps done by Ansible.
"""

from __future__ import annotations

from app.deploy.ansible.availability import ENGINES, available, engine_help, missing_reason

__all__ = ["ENGINES", "available", "engine_help", "missing_reason"]
