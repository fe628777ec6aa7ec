"""Host names, IP addresses and interface names as a cluster file or a parameter may give them.

These values reach ssh, scp, rsync, ip and ifconfig as words. Quoting keeps them one word, but
a word that starts with `-` is still an option to those programs (`-oProxyCommand=…` runs a
command), so only the shapes a real host or interface can have are accepted.
"""
from __future__ import annotations

import ipaddress
import re

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST_NAME = re.compile(rf"(?=.{{1,253}}\Z){_LABEL}(?:\.{_LABEL})*")
_SCOPE = re.compile(r"[A-Za-z0-9_.-]+")
_INTERFACE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:@-]{0,31}")


def is_ip(value: str) -> bool:
    """An IPv4 or IPv6 address; an IPv6 zone (`fe80::1%eth0`) only with an interface-like name."""
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    _, percent, scope = value.partition("%")
    return not percent or bool(_SCOPE.fullmatch(scope))


def is_host_name(value: str) -> bool:
    """A host name of RFC 1123 labels (letters, digits, inner hyphens; at most 63 each, 253 in all)."""
    return bool(_HOST_NAME.fullmatch(value))


def host_problem(value: str) -> str | None:
    """None for a host name or an IP address, else why the value is not one."""
    if not value:
        return "empty: give a host name or an IP address"
    if is_host_name(value) or is_ip(value):
        return None
    return f"{value!r} is not a host name (letters, digits, inner hyphens, dots) or an IP address"


def ip_problem(value: str) -> str | None:
    """None for an IPv4 or IPv6 address, else why not."""
    if not value:
        return "empty: give an IP address"
    return None if is_ip(value) else f"{value!r} is not an IP address"


def interface_problem(value: str) -> str | None:
    """None for a network interface name (`eth0`, `en0`, `bond0.12`, `eth0:1`), else why not."""
    if _INTERFACE.fullmatch(value):
        return None
    if not value:
        return "empty: give an interface name such as eth0"
    return f"{value!r} is not an interface name (letters, digits, _ . : @ -, not starting with -)"
