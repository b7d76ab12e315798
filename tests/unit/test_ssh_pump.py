"""Reading a command's output over SSH: all of it, even when sshd reports the exit status
before it has passed on the command's last output (seen on a loaded machine: a dpkg-query
listing cut mid-line)."""

from __future__ import annotations

import time
from types import SimpleNamespace

from app.remote.ssh import SshTransport


class LateOutputChannel:
    """A channel whose exit status is ready at once, while the last chunk of stdout only
    arrives a few polls later, followed by EOF (what OpenSSH may do under load)."""

    def __init__(self, *, eof: bool = True) -> None:
        self.polls = 0
        self.ready = [b"pkg-a\tii \t1.0\n", b"pkg-b\tii \t2."]
        self.late = b"0\n"
        self.eof = eof

    def exit_status_ready(self) -> bool:
        self.polls += 1
        return True

    @property
    def eof_received(self) -> bool:
        return self.eof and self.polls >= 4

    def recv_ready(self) -> bool:
        if self.polls >= 3 and self.late:
            self.ready.append(self.late)
            self.late = b""
        return bool(self.ready)

    def recv(self, size: int) -> bytes:
        return self.ready.pop(0)

    def recv_stderr_ready(self) -> bool:
        return False

    def recv_stderr(self, size: int) -> bytes:
        return b""

    def recv_exit_status(self) -> int:
        return 0

    def shutdown_write(self) -> None:
        pass

    def sendall(self, data: bytes) -> None:
        pass


def pump(chan: LateOutputChannel) -> tuple[bytes, bytes, int]:
    owner = SimpleNamespace(host="h", _check_size=lambda *args: None)
    return SshTransport._pump(owner, chan, "", None, time.monotonic() + 30,  # type: ignore[arg-type]
                              ["dpkg-query", "-W"], 0)


def test_output_after_the_exit_status_is_still_read() -> None:
    out, _err, code = pump(LateOutputChannel())
    assert out == b"pkg-a\tii \t1.0\npkg-b\tii \t2.0\n" and code == 0


def test_a_channel_that_never_sends_eof_does_not_hang() -> None:
    """A command that leaves a background child holding its output open: the exit status
    ends the wait after a short grace period."""
    started = time.monotonic()
    out, _err, code = pump(LateOutputChannel(eof=False))
    assert out.endswith(b"2.0\n") and code == 0
    assert time.monotonic() - started < 5
