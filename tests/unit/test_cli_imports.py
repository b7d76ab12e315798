"""The CLI starts light: the SSH/WinRM stacks, the deployment engines, the PDF writer and Qt
are imported when a command needs them, not on every start (a scheduled `run-due`, a
benchmark's hundred `assess` calls). A module-level import of any of them in the CLI's or
the services' import chain (as the Ansible engine choice once was) fails here."""

import subprocess
import sys

HEAVY = ("paramiko", "winrm", "app.deploy.engine", "app.deploy.ansible.engine",
         "app.remote.ssh", "reportlab", "PySide6", "ansible_runner")


def test_importing_the_cli_loads_no_engine_transport_pdf_or_qt() -> None:
    code = ("import sys, app.cli.entry; "
            f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == ""
