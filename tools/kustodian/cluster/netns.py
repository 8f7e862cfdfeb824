"""The holder of a cluster's private network namespace, and its port forwarder.

Run as `python -m kustodian.cluster.netns` by `kustodian.cluster.Cluster`. It keeps a file
descriptor of the network namespace it started in (the host's), moves itself into a new one
(`unshare(CLONE_NEWNET)`, loopback brought up), prints one JSON line and then obeys commands
read from stdin, one per line:

    forward PORT    listen on a free 127.0.0.1 port of the HOST namespace and forward each
                    connection to 127.0.0.1:PORT inside the private one; answers the host port
    quit            exit

Only what a caller asks for is forwarded (the cluster asks for the API server's port, never
etcd's). The main thread never leaves the private namespace (a listener of the host's is made
by a short-lived thread), so /proc/<this pid>/ns/net always names the private one.
The cluster's processes join the namespace through /proc/<this pid>/ns/net; when the last of
them exits the namespace is gone. The holder exits when its stdin closes (its parent died) and
asks the kernel for SIGKILL when its parent dies, so it never outlives the cluster.
Without the privilege to create a namespace (CAP_SYS_ADMIN) it prints
{"netns": false} and the cluster runs on the host's loopback instead.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import json
import os
import signal
import socket
import struct
import sys
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

CLONE_NEWNET = 0x40000000
PR_SET_PDEATHSIG = 1
_SIOCGIFFLAGS, _SIOCSIFFLAGS, _IFF_UP = 0x8913, 0x8914, 0x1

_libc = ctypes.CDLL(None, use_errno=True)


def set_parent_death_signal(sig: int = signal.SIGKILL) -> None:
    """Have the kernel send `sig` to this process when its parent exits."""
    _libc.prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0)


def join_netns(path: str) -> None:
    """Move the calling thread into the network namespace at `path` (/proc/PID/ns/net)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns({path}): {os.strerror(err)}")
    finally:
        os.close(fd)


def _setns_fd(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def _loopback_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        ifreq = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(sock, _SIOCGIFFLAGS, ifreq))[1]
        fcntl.ioctl(sock, _SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | _IFF_UP))


def _pump(src: socket.socket, dst: socket.socket) -> None:
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)


def _serve(listener: socket.socket, inner_port: int) -> None:
    """Accept on the host side; connect inside (this process lives in the private netns)."""
    while True:
        try:
            client, _ = listener.accept()
        except OSError:
            return
        try:
            upstream = socket.create_connection(("127.0.0.1", inner_port), timeout=10)
            upstream.settimeout(None)
        except OSError:
            client.close()
            continue
        for a, b in ((client, upstream), (upstream, client)):
            threading.Thread(target=_pump, args=(a, b), daemon=True).start()


def _in_thread(make: Callable[[], T]) -> T:
    """`make()` run by a short-lived thread (which may join another namespace: only that
    thread's namespace changes); its OSError is raised here."""
    box: dict[str, object] = {}

    def run() -> None:
        try:
            box["value"] = make()
        except OSError as exc:
            box["error"] = exc

    worker = threading.Thread(target=run)
    worker.start()
    worker.join()
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]


def _host_listener(host_fd: int) -> socket.socket:
    """A listening socket on a free 127.0.0.1 port of the HOST namespace.

    Created by a short-lived thread that joins the host namespace: the main thread stays in
    the private one, so /proc/<this pid>/ns/net (what the cluster's processes join) names
    the private namespace at every moment."""
    def make() -> socket.socket:
        _setns_fd(host_fd)
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        return listener

    return _in_thread(make)


def connect_inside(netns: str | None, port: int, timeout: float) -> socket.socket:
    """A TCP connection to 127.0.0.1:`port` inside the namespace at `netns` (the host's
    loopback when None), without forwarding anything to the host: the socket is created by a
    short-lived thread that joined the namespace (a socket belongs to the namespace it was
    created in); the calling thread's namespace never changes."""
    if netns is None:
        return socket.create_connection(("127.0.0.1", port), timeout=timeout)

    def make() -> socket.socket:
        join_netns(netns)
        return socket.socket(socket.AF_INET, socket.SOCK_STREAM)

    sock = _in_thread(make)
    try:
        sock.settimeout(timeout)
        sock.connect(("127.0.0.1", port))
    except OSError:
        sock.close()
        raise
    return sock


def main() -> int:
    set_parent_death_signal()
    host_fd = os.open("/proc/self/ns/net", os.O_RDONLY)
    private = _libc.unshare(CLONE_NEWNET) == 0
    if private:
        _loopback_up()
    print(json.dumps({"netns": private, "pid": os.getpid()}), flush=True)
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        if words[0] == "quit":
            break
        if words[0] == "forward" and len(words) == 2 and words[1].isdigit() and private:
            try:
                listener = _host_listener(host_fd)
            except OSError:
                print("error", flush=True)
                continue
            threading.Thread(target=_serve, args=(listener, int(words[1])),
                             daemon=True).start()
            print(listener.getsockname()[1], flush=True)
        else:
            print("error", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
