"""The multi-node tests' network (tests/netlab.py): isolated nodes, a cable that can be pulled."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest

from tests.netlab import NetLab, NetLabUnavailable
from tests.required import start_or_fail

# Run inside a node: connect to HOST:PORT and print what the server says, or "unreachable".
PROBE = """
import socket, sys
try:
    with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2) as s:
        print(s.recv(16).decode())
except OSError:
    print("unreachable")
"""


@pytest.fixture
def lab() -> Iterator[NetLab]:
    made = start_or_fail(lambda: NetLab.start(2), NetLabUnavailable)
    yield made
    made.close()


def _serve(host: str) -> tuple[socket.socket, int]:
    """A TCP server on ``host`` that greets every connection with "hello"."""
    server = socket.create_server((host, 0))

    def greet() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                conn.sendall(b"hello")

    threading.Thread(target=greet, daemon=True).start()
    return server, server.getsockname()[1]


def _probe(lab: NetLab, node: int, host: str, port: int) -> str:
    argv = lab.command(node, [sys.executable, "-c", PROBE, host, str(port)])
    return subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout.strip()


def test_nodes_reach_the_bridge_only_and_a_pulled_cable_cuts_one_node_off(lab: NetLab) -> None:
    on_bridge, bridge_port = _serve(lab.host_address)
    on_loopback, loopback_port = _serve("127.0.0.1")
    try:
        assert _probe(lab, 0, lab.host_address, bridge_port) == "hello"
        # The host's loopback is not the node's: a service on 127.0.0.1 is out of reach.
        assert _probe(lab, 0, "127.0.0.1", loopback_port) == "unreachable"
        lab.cut(0)
        assert _probe(lab, 0, lab.host_address, bridge_port) == "unreachable"
        assert _probe(lab, 1, lab.host_address, bridge_port) == "hello"  # only node0 is cut
        lab.heal(0)
        assert _probe(lab, 0, lab.host_address, bridge_port) == "hello"
    finally:
        on_bridge.close()
        on_loopback.close()


def test_closing_the_lab_removes_its_namespaces_and_bridge(lab: NetLab) -> None:
    lab.close()
    namespaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    assert not any(name in namespaces for name in lab.namespaces)
    assert (
        lab.host_address
        not in subprocess.run(
            ["ip", "-o", "-4", "addr", "show"], capture_output=True, text=True
        ).stdout
    )
    assert f"elo{lab.namespaces[0][3:].split('n')[0]}b:" not in links
