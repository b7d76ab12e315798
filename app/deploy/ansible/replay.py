"""The driver code of the built-in engine, run on outputs Ansible collected.

A step of the built-in engine (a pre-flight check, preparing an install, the read-back
after it) is driver code that calls ``transport.run(argv)`` and parses what comes back.
Here it runs against a :class:`ReplayTransport`: a command whose output is known returns
it; an unknown one is noted and the step stops (:class:`NeedCommands`). The noted commands
of every host run in ONE playbook (``commands.yml``), their outputs are added, and the steps
run again from the start, until each finishes or fails. So both engines run the same
commands and parse the same output with the same parsers: their records agree by
construction. Steps must be pure apart from their transport (they run several times).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from app.core.errors import UserError
from app.deploy.ansible.runner import HostResult
from app.remote.ssh import AuthenticationError, RemoteError, SudoError, UnreachableError

__all__ = ["Command", "NeedCommands", "Output", "ReplayTransport", "command_vars",
           "first_command", "host_outputs", "run_steps"]

T = TypeVar("T")
MAX_ROUNDS = 8


@dataclass(frozen=True)
class Command:
    """One remote command as the driver asked for it."""

    argv: tuple[str, ...]
    sudo: bool = False
    stdin: str | None = None

    @property
    def key(self) -> str:
        """A short stable name for the command (its loop label in the playbook)."""
        digest = hashlib.sha256("\0".join([*self.argv, str(self.sudo), self.stdin or ""])
                                .encode()).hexdigest()[:16]
        return f"{self.argv[0] if self.argv else ''}-{digest}"


@dataclass(frozen=True)
class Output:
    """A command's result (the transport's :class:`~app.drivers.base.CommandOutput`)."""

    exit_code: int
    stdout: str
    stderr: str


class NeedCommands(BaseException):
    """A step asked for a command whose output is not known yet (BaseException, so a
    step's ``except Exception`` never swallows it)."""


Known = dict[Command, Output | UserError]


class ReplayTransport:
    """A transport answering from outputs Ansible collected (see the module's text)."""

    def __init__(self, host: str, known: Known) -> None:
        self.host = host
        self.known = known
        self.needed: list[Command] = []

    def run(self, argv: Sequence[str], *, sudo: bool = False, timeout: float = 120.0,
            input: str | None = None, env: Mapping[str, str] | None = None,
            c_locale: bool = True) -> Output:
        """The known output of the command, or :class:`NeedCommands`."""
        del timeout, c_locale  # Ansible's task timeout; the play sets LC_ALL=C
        full = tuple(argv) if not env else ("env", *(f"{k}={v}" for k, v in env.items()),
                                            *argv)
        command = Command(full, sudo, input)
        found = self.known.get(command)
        if found is None:
            self.needed.append(command)
            raise NeedCommands
        if isinstance(found, UserError):
            raise found
        return found

    def close(self) -> None:
        """Nothing to close (Ansible owns the connections)."""


def command_vars(commands: Sequence[Command], prefix: str = "pd") -> dict[str, Any]:
    """The host variables of ``commands.yml`` (or the read-back of install/rollback)."""
    def item(c: Command) -> dict[str, Any]:
        out: dict[str, Any] = {"key": c.key, "argv": list(c.argv)}
        if c.stdin is not None:
            out["stdin"] = c.stdin
        return out
    return {f"{prefix}_root": [item(c) for c in commands if c.sudo],
            f"{prefix}_user": [item(c) for c in commands if not c.sudo]}


def _host_error(address: str, message: str) -> UserError:
    lowered = message.lower()
    if "permission denied" in lowered or "authentication" in lowered:
        return AuthenticationError(address, f"login refused (Ansible: {message[:300]})")
    if "host key" in lowered:
        return RemoteError(address, f"host key not trusted (Ansible: {message[:300]})")
    return UnreachableError(address, f"unreachable (Ansible: {message[:300]})")


def host_outputs(address: str, result: HostResult, commands: Sequence[Command],
                 prefix: str = "pd") -> Known:
    """Each command's output from a host's run results (an error for a command Ansible
    could not run: unreachable host, sudo refused)."""
    by_key: dict[str, dict[str, Any]] = {}
    for res in result.tasks.values():
        for item in res.get("results", []) if isinstance(res.get("results"), list) else []:
            label = (item.get("item") or {}).get("key") if isinstance(item.get("item"),
                                                                       dict) else None
            if label:
                by_key[str(label)] = item
    known: Known = {}
    for command in commands:
        item = by_key.get(command.key)
        if result.unreachable:
            known[command] = _host_error(address, result.unreachable)
        elif item is None:
            failed = "; ".join(result.failed.values())
            known[command] = UnreachableError(address, "Ansible did not run the command"
                                              + (f": {failed}" if failed else ""))
        elif "rc" not in item:  # the module never ran it: become failed, a module error
            message = str(item.get("msg") or item.get("module_stderr") or "failed")[:300]
            known[command] = (SudoError(address, f"sudo refused (Ansible: {message})")
                              if "sudo" in message.lower() or "become" in message.lower()
                              else RemoteError(address, f"Ansible: {message}"))
        else:
            known[command] = Output(int(item.get("rc") or 0), str(item.get("stdout") or ""),
                                    str(item.get("stderr") or ""))
    return known


def first_command(step: Callable[[ReplayTransport], object]) -> Command | None:
    """The first command a step runs (to run it ahead, in the first round)."""
    dry = ReplayTransport("dry-run", {})
    try:
        step(dry)
    except NeedCommands:
        return dry.needed[0] if dry.needed else None
    except Exception:  # noqa: S110 - a step that fails without a host asks for nothing
        pass
    return None


@dataclass
class _Host(Generic[T]):
    transport: ReplayTransport
    step: Callable[[ReplayTransport], T]
    result: T | None = None
    error: BaseException | None = None
    done: bool = False


Execute = Callable[[dict[str, list[Command]]], dict[str, Known]]


def run_steps(steps: Mapping[str, tuple[str, Callable[[ReplayTransport], T]]],
              execute: Execute, prefetch: Mapping[str, Sequence[Command]] | None = None,
              ) -> dict[str, T | BaseException]:
    """Run each host's step (host name → (address, step)) to its end: as many playbook
    runs (``execute``: host → commands to run → host → outputs) as the steps need rounds
    of commands; ``prefetch`` commands are run in the first round. A step's own error is
    its result."""
    hosts = {name: _Host(ReplayTransport(address, {}), step)
             for name, (address, step) in steps.items()}
    wanted = {name: list((prefetch or {}).get(name, ())) for name in hosts}
    for _round in range(MAX_ROUNDS):
        batch = {n: [c for c in dict.fromkeys(cs) if c not in hosts[n].transport.known]
                 for n, cs in wanted.items()}
        batch = {n: cs for n, cs in batch.items() if cs}
        if batch:
            for name, outputs in execute(batch).items():
                hosts[name].transport.known.update(outputs)
        wanted = {}
        for name, host in hosts.items():
            if host.done:
                continue
            host.transport.needed.clear()
            try:
                host.result = host.step(host.transport)
                host.done = True
            except NeedCommands:
                wanted[name] = list(host.transport.needed)
            except Exception as exc:  # the step's own error is its result
                host.error, host.done = exc, True
        if not wanted:
            break
    out: dict[str, T | BaseException] = {}
    for name, host in hosts.items():
        if host.done:
            out[name] = host.error if host.error is not None else host.result  # type: ignore[assignment]
        else:
            out[name] = RemoteError(host.transport.host, "the step needed more rounds of "
                                                         "commands than allowed")
    return out
