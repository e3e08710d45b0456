"""This server's IPv4 addresses, the candidates for the `host=` a Jetson's sender points at.

Read from `ip -o -4 addr show` (iproute2) where it exists, else from the addresses the host name resolves to. LAN
addresses come first; loopback comes last (it only reaches a sender on this same machine).
"""
from __future__ import annotations

import ipaddress
import logging
import re
import shutil
import socket
import subprocess
from dataclasses import dataclass

logger = logging.getLogger(__name__)

_IP_ADDR_LINE = re.compile(r"^\d+:\s+(?P<interface>\S+)\s+inet\s+(?P<address>\d+\.\d+\.\d+\.\d+)/\d+", re.MULTILINE)


@dataclass(frozen=True)
class HostAddress:
    address: str
    interface: str  # "" when the address came from the host name

    @property
    def label(self) -> str:
        where = f" ({self.interface})" if self.interface else ""
        return f"{self.address}{where}" + (" — this machine only" if self.is_loopback else "")

    @property
    def is_loopback(self) -> bool:
        return ipaddress.IPv4Address(self.address).is_loopback


def parse_ip_addr(output: str) -> list[HostAddress]:
    """Addresses from `ip -o -4 addr show` output, in its order."""
    return [HostAddress(match["address"], match["interface"]) for match in _IP_ADDR_LINE.finditer(output)]


def _from_ip_command() -> list[HostAddress]:
    executable = shutil.which("ip")
    if executable is None:
        return []
    try:
        result = subprocess.run([executable, "-o", "-4", "addr", "show"], capture_output=True, text=True, timeout=5,
                                check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        logger.info("ip -o -4 addr show failed: %s", error)
        return []
    return parse_ip_addr(result.stdout) if result.returncode == 0 else []


def _from_host_name() -> list[HostAddress]:
    try:
        found = socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET, socket.SOCK_DGRAM)
    except OSError:
        return []
    return [HostAddress(str(entry[4][0]), "") for entry in found]


def server_ipv4_addresses() -> list[HostAddress]:
    """Unique IPv4 addresses of this server, LAN ones first, loopback last (127.0.0.1 is always listed)."""
    found = _from_ip_command() or _from_host_name()
    unique = list({entry.address: entry for entry in [*found, HostAddress("127.0.0.1", "lo")]}.values())
    return sorted(unique, key=lambda entry: entry.is_loopback)
