"""A fork server for the fault suites: `taskloom serve` processes without paying the import each time.

Starting the console script costs about 1 s of CPU, nearly all of it importing the MCP SDK and
pydantic. The kill test needs 50 fresh server processes and the contention test 16, on 2 shared
cores, so this helper imports taskloom's command line once (opening nothing: no database, no
event loop, no thread) and then forks one child per request. Each child runs the console
script's own `main(["serve", ...])` on the pipes it was handed as fds 0, 1 and 2: a separate
process with its own database connections, resolver and event loop, killed and restarted like
any other. Tests that check exit codes or start-up itself use the real console script.

Usage: python zygote.py CONTROL_FD. Over that SOCK_SEQPACKET unix socket the test sends one
JSON request {"argv": [...], "env": {...}, "cwd": "..."} with three fds attached (stdin, stdout,
stderr for the child); the zygote answers {"pid": N}. Children are reaped automatically; the
zygote exits when the socket closes.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import threading


def _child(argv: list[str], env: dict[str, str], cwd: str, fds: list[int], control: socket.socket) -> None:
    control.close()
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    from taskloom.cli.main import main

    code = 1
    try:
        code = main(argv)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code or 0)


def serve_forever(control_fd: int) -> None:
    # The point of this process: pay for these imports once, before any fork.
    import taskloom.cli.main
    import taskloom.server.run
    import taskloom.services.app  # noqa: F401

    # fork() copies only the calling thread: a thread started by an import would be lost in children.
    assert threading.active_count() == 1, threading.enumerate()
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    control = socket.socket(fileno=control_fd)
    while True:
        msg, fds, _, _ = socket.recv_fds(control, 1 << 20, 3)
        if not msg:
            return
        request = json.loads(msg)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            _child(request["argv"], request["env"], request["cwd"], list(fds), control)
        for fd in fds:
            os.close(fd)
        control.send(json.dumps({"pid": pid}).encode())


if __name__ == "__main__":
    serve_forever(int(sys.argv[1]))
