"""Network namespaces of the tests' own, joined by veth pairs, for partitions that a
loopback address cannot show: each namespace is a machine with its own addresses, a link
between two of them can be cut (``ip link set down``) and mended, and everything is
removed by ``destroy``.

Names carry a random suffix, so tests running at once never share one; the addresses are
in 10.0.0.0/8, on /30 links.
"""

from __future__ import annotations

import random
import secrets
import subprocess
from dataclasses import dataclass, field


def ip(*args: str, namespace: str | None = None) -> None:
    prefix = ["ip", "netns", "exec", namespace] if namespace is not None else []
    subprocess.run([*prefix, "ip", *args], check=True, capture_output=True, text=True)


@dataclass(frozen=True)
class Link:
    """A veth pair: one end (``left``) in a namespace or the tests' own, one in another."""

    left: str
    left_namespace: str | None
    left_address: str
    right: str
    right_namespace: str
    right_address: str

    def cut(self) -> None:
        """Take the link down: nothing passes either way until ``mend``."""
        ip("link", "set", self.right, "down", namespace=self.right_namespace)

    def mend(self) -> None:
        ip("link", "set", self.right, "up", namespace=self.right_namespace)


@dataclass
class Network:
    """Namespaces and links, all removed by ``destroy`` (a namespace takes its veth ends
    with it, and the other end goes too)."""

    suffix: str = field(default_factory=lambda: secrets.token_hex(3))
    namespaces: list[str] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    _subnet: int = field(default_factory=lambda: random.randrange(16, 250))

    def namespace(self, name: str) -> str:
        full = f"{name}-{self.suffix}"
        subprocess.run(["ip", "netns", "add", full], check=True, capture_output=True)
        self.namespaces.append(full)
        ip("link", "set", "lo", "up", namespace=full)
        return full

    def link(self, left_namespace: str | None, right_namespace: str) -> Link:
        """A /30 link between two namespaces (``None``: the tests' own)."""
        number = len(self.links)
        base = f"10.{self._subnet}.{number}"
        link = Link(
            f"v{number}l{self.suffix}", left_namespace, f"{base}.1",
            f"v{number}r{self.suffix}", right_namespace, f"{base}.2",
        )  # fmt: skip
        ip("link", "add", link.left, "type", "veth", "peer", "name", link.right)
        ip("link", "set", link.right, "netns", right_namespace)
        if left_namespace is not None:
            ip("link", "set", link.left, "netns", left_namespace)
        for end, namespace, address in (
            (link.left, left_namespace, link.left_address),
            (link.right, right_namespace, link.right_address),
        ):
            ip("addr", "add", f"{address}/30", "dev", end, namespace=namespace)
            ip("link", "set", end, "up", namespace=namespace)
        self.links.append(link)
        return link

    def destroy(self) -> None:
        for link in self.links:
            if link.left_namespace is None:
                subprocess.run(["ip", "link", "del", link.left], check=False, capture_output=True)
        for namespace in self.namespaces:
            subprocess.run(["ip", "netns", "del", namespace], check=False, capture_output=True)
