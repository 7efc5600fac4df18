"""A small network for multi-node tests: each node in its own network namespace.

The lab is a Linux bridge on the host (the "switch"; it holds the host's address, where the
test's PostgreSQL and LiveKit fake listen) and one namespace per node (``ip netns``), each joined
to the bridge by a veth pair. A node has its own network stack: it reaches the host only over its
link, by TCP, as a separate machine would, and :meth:`NetLab.cut` pulls its cable (packets are
dropped, connections stall; nothing is reset) until :meth:`NetLab.heal` plugs it back in.

Nothing is routed beyond the bridge: the namespaces have no default route, so a node can reach
the lab's addresses only. Needs root (CAP_NET_ADMIN) and iproute2; without them the lab fails
with one line saying so. Labs left by a killed test process are removed by the next one.
"""

from __future__ import annotations

import fcntl
import os
import re
import subprocess
from collections.abc import Sequence

from devtools.postgres_orphans import process_alive

# 10.231.N.0/24, N picked per lab: private, and unlikely to be a network the machine uses.
NET_PREFIX = "10.231"
LOCK_FILE = "/tmp/elo-netlab.lock"


class NetLabUnavailable(RuntimeError):
    """Network namespaces cannot be made here; the message says why, on one line."""


def _ip(*args: str, namespace: str | None = None) -> str:
    """Run ``ip ARGS`` (inside ``namespace`` if given); its output, or NetLabUnavailable."""
    argv = ["ip", *(("netns", "exec", namespace, "ip") if namespace else ()), *args]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    except FileNotFoundError:
        raise NetLabUnavailable(
            "the `ip` command is missing (install iproute2: apt-get install iproute2)"
        ) from None
    if done.returncode != 0:
        why = (done.stderr.strip().splitlines() or ["no message"])[-1]
        hint = " (network namespaces need root)" if "ermission" in why else ""
        raise NetLabUnavailable(f"`{' '.join(argv)}` failed: {why}{hint}")
    return done.stdout


def remove_stale_labs() -> None:
    """Delete the namespaces and bridges of labs whose test process no longer exists."""
    for line in _ip("netns", "list").splitlines():
        name = line.split()[0] if line.strip() else ""
        if (match := re.fullmatch(r"elo(\d+)n\d+", name)) and not process_alive(int(match[1])):
            _ip("netns", "del", name)
    for match in re.finditer(r"^\d+: (elo(\d+)b)[:@]", _ip("-o", "link", "show"), re.M):
        if not process_alive(int(match[2])):
            _ip("link", "del", match[1])


class NetLab:
    """A bridge and ``nodes`` namespaces; use :meth:`start`, then :meth:`close` (or ``with``).

    Attributes:
        host_address: The bridge's address on the host, where the nodes find the services.
        network: The lab's network in CIDR form (for pg_hba.conf).
        namespaces: Each node's namespace name, by node index.
    """

    def __init__(self, nodes: int, subnet: int) -> None:
        tag = f"elo{os.getpid()}"
        self._bridge = f"{tag}b"
        self._subnet = f"{NET_PREFIX}.{subnet}"
        self.host_address = f"{self._subnet}.1"
        self.network = f"{self._subnet}.0/24"
        self.namespaces = [f"{tag}n{i}" for i in range(nodes)]
        self._host_ends = [f"{tag}h{i}" for i in range(nodes)]

    @classmethod
    def start(cls, nodes: int) -> NetLab:
        """Make the bridge and the nodes' namespaces, each linked and addressed.

        Raises:
            NetLabUnavailable: Not root, no iproute2, or the kernel refused.
        """
        if nodes > 9:
            raise ValueError("a lab has at most 9 nodes (interface names stay short)")
        # One lab at a time picks its network and builds (two test runs may start labs at once).
        with open(LOCK_FILE, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            remove_stale_labs()
            used = _ip("-o", "-4", "addr", "show")
            subnet = next(
                n
                for n in [*range(os.getpid() % 200 + 20, 250), *range(20, 250)]
                if f" {NET_PREFIX}.{n}." not in used
            )
            lab = cls(nodes, subnet)
            try:
                lab._build()
            except BaseException:
                lab.close()
                raise
        return lab

    def _build(self) -> None:
        _ip("link", "add", self._bridge, "type", "bridge")
        _ip("addr", "add", f"{self.host_address}/24", "dev", self._bridge)
        _ip("link", "set", self._bridge, "up")
        for i, (namespace, host_end) in enumerate(
            zip(self.namespaces, self._host_ends, strict=True)
        ):
            node_end = f"{namespace}e"
            _ip("netns", "add", namespace)
            _ip("link", "add", host_end, "type", "veth", "peer", "name", node_end)
            _ip("link", "set", host_end, "master", self._bridge)
            _ip("link", "set", host_end, "up")
            _ip("link", "set", node_end, "netns", namespace)
            _ip("addr", "add", f"{self.address(i)}/24", "dev", node_end, namespace=namespace)
            _ip("link", "set", node_end, "up", namespace=namespace)
            _ip("link", "set", "lo", "up", namespace=namespace)

    def address(self, node: int) -> str:
        """The node's own address on the lab network."""
        return f"{self._subnet}.{10 + node}"

    def command(self, node: int, argv: Sequence[str]) -> list[str]:
        """``argv`` run inside the node's namespace (as the same user, with the same files)."""
        return ["ip", "netns", "exec", self.namespaces[node], *argv]

    def cut(self, node: int) -> None:
        """Pull the node's cable: its packets are dropped both ways until :meth:`heal`."""
        _ip("link", "set", self._host_ends[node], "down")

    def heal(self, node: int) -> None:
        """Plug the node's cable back in.

        Both sides forget the neighbour lookups that failed while it was out, as a machine
        whose link comes back does (else the first connection fails with "no route to host").
        """
        _ip("link", "set", self._host_ends[node], "up")
        _ip("neigh", "flush", "dev", f"{self.namespaces[node]}e", namespace=self.namespaces[node])
        _ip("neigh", "flush", "to", self.address(node), "dev", self._bridge)

    def close(self) -> None:
        """Delete the namespaces (their veth pairs go with them) and the bridge."""
        existing = set(_ip("netns", "list").split())
        for namespace in self.namespaces:
            if namespace in existing:
                _ip("netns", "del", namespace)
        if f": {self._bridge}:" in _ip("-o", "link", "show"):
            _ip("link", "del", self._bridge)

    def __enter__(self) -> NetLab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
