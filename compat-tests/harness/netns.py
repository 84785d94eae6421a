"""Network namespaces for fault tests: each node in its own namespace, its
veth joined to a bridge of this test's own, so links can be cut for real.

The test process (and its clients) stays in the host namespace and reaches
the nodes through the bridge's address. Nothing else on the machine is
touched: the bridge, the veths and the namespaces are named after this
process and removed at the end. Needs root and `ip` (iproute2); without
`tc` or iptables, a link is cut by taking it down, and a one-way cut is a
blackhole route in the sender's namespace (its packets to the peer vanish;
the peer's still arrive)."""
from __future__ import annotations

import os
import shutil
import subprocess


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True)


def why_unavailable() -> str | None:
    """None if namespaces with veths and a bridge can be made here."""
    if shutil.which("ip") is None:
        return "no `ip` (iproute2) here"
    if os.geteuid() != 0:
        return "network namespaces need root"
    probe = f"odrp{os.getpid() % 100000}"
    made = ip("netns", "add", probe, check=False)
    if made.returncode != 0:
        return f"cannot create a network namespace: {made.stderr.strip()}"
    ip("netns", "del", probe, check=False)
    return None


class Namespaces:
    """`size` namespaces on 10.213.N.0/24: node i at .(i+1), the bridge
    (the host side, where the clients are) at .254."""

    def __init__(self, size: int):
        tag = os.getpid() % 100000
        self.subnet = f"10.213.{tag % 250}"
        self.bridge = f"odrb{tag}"
        self.names = [f"odr{tag}-{i}" for i in range(size)]
        self.veths = [f"odr{tag}v{i}" for i in range(size)]
        self.addresses = [f"{self.subnet}.{i + 1}" for i in range(size)]
        self.host = f"{self.subnet}.254"

    def __enter__(self) -> "Namespaces":
        try:
            ip("link", "add", self.bridge, "type", "bridge")
            ip("addr", "add", f"{self.host}/24", "dev", self.bridge)
            ip("link", "set", self.bridge, "up")
            for name, veth, address in zip(self.names, self.veths, self.addresses):
                ip("netns", "add", name)
                ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", name)
                ip("link", "set", veth, "master", self.bridge, "up")
                ip("-n", name, "addr", "add", f"{address}/24", "dev", "eth0")
                ip("-n", name, "link", "set", "eth0", "up")
                ip("-n", name, "link", "set", "lo", "up")
        except BaseException:
            self.remove()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.remove()

    def remove(self) -> None:
        for name in self.names:
            ip("netns", "del", name, check=False)
        ip("link", "del", self.bridge, check=False)

    def wrapper(self, i: int) -> list[str]:
        """The command a process is started under to run in node i's namespace."""
        return ["ip", "netns", "exec", self.names[i]]

    def cut(self, i: int) -> None:
        """Node i loses its link: nothing in or out."""
        ip("link", "set", self.veths[i], "down")

    def mend(self, i: int) -> None:
        ip("link", "set", self.veths[i], "up")

    def cut_one_way(self, i: int, to: int) -> None:
        """Node i's packets to node `to` vanish; `to`'s still reach i."""
        ip("-n", self.names[i], "route", "add", "blackhole", f"{self.addresses[to]}/32")

    def mend_one_way(self, i: int, to: int) -> None:
        ip("-n", self.names[i], "route", "del", "blackhole", f"{self.addresses[to]}/32", check=False)
