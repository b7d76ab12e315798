"""Fakes that implement PatchDesk's real interfaces (no MagicMock of our own code)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class FakeResult:
    """A command's outcome, shaped like :class:`app.remote.ssh.CommandResult`."""

    argv: tuple[str, ...]
    exit_code: int
    stdout: str
    stderr: str = ""


Responder = Callable[[Sequence[str]], tuple[int, str, str] | None]


@dataclass
class ScriptedTransport:
    """A :class:`app.drivers.base.Transport` that answers from captured outputs.

    ``rules`` are tried in order: (predicate on argv, (exit, stdout, stderr)). Every call is
    recorded with its argv and sudo flag; an unexpected command fails the test loudly.
    """

    host: str = "10.0.0.5"
    rules: list[tuple[Callable[[Sequence[str]], bool], tuple[int, str, str]]] = field(
        default_factory=list)
    calls: list[tuple[tuple[str, ...], bool]] = field(default_factory=list)

    def on(self, predicate: Callable[[Sequence[str]], bool], exit_code: int, stdout: str,
           stderr: str = "") -> ScriptedTransport:
        """Answer commands matching ``predicate``."""
        self.rules.append((predicate, (exit_code, stdout, stderr)))
        return self

    def run(self, argv: Sequence[str], *, sudo: bool = False, timeout: float = 120.0,
            input: str | None = None, env: Mapping[str, str] | None = None,
            c_locale: bool = True) -> FakeResult:
        self.calls.append((tuple(argv), sudo))
        for predicate, (code, out, err) in self.rules:
            if predicate(argv):
                return FakeResult(tuple(argv), code, out, err)
        raise AssertionError(f"unexpected command on {self.host}: {list(argv)}")


def starts(*prefix: str) -> Callable[[Sequence[str]], bool]:
    """Predicate: argv starts with these words."""
    return lambda argv: tuple(argv[: len(prefix)]) == prefix


def contains(word: str) -> Callable[[Sequence[str]], bool]:
    """Predicate: one argv word equals ``word``."""
    return lambda argv: word in argv
