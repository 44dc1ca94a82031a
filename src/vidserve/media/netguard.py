"""Outbound HTTP that cannot be pointed at the operator's own network (an SSRF guard).

Input file URLs and webhook URLs are chosen by whoever submits a request, and vidserve
connects to them from inside its network. :class:`HostPolicy` decides which addresses may be
reached: public ones, plus the hosts, addresses and CIDRs the operator lists in
``VIDSERVE_ALLOW_HOSTS``. Refused unless allowed: loopback, private (RFC 1918, ULA),
link-local, carrier-grade NAT, multicast, unspecified, reserved, benchmarking and
documentation ranges, the same inside IPv4-mapped, NAT64 and 6to4 IPv6 addresses, and the
cloud metadata services (by address, and ``metadata.google.internal`` by name). A host name
that resolves to several addresses is refused if any one of them is refused.

How a connection stays on the checked address (no DNS-rebinding window):
:class:`GuardedTransport` is an ``httpx`` transport over an ``httpcore.ConnectionPool`` whose
*network backend* is ours. httpcore asks the backend for each new TCP connection, giving the
URL's host name and port. The backend resolves the name once (``getaddrinfo``), checks every
address of that one answer, and connects a socket to one of those very socket addresses; the
name is never looked up again, so a DNS answer that changes after the check (rebinding)
cannot redirect the connection. httpcore then starts TLS on that socket with the URL's host
name as ``server_hostname``, so SNI and certificate verification are for the name, not the
IP, and the ``Host`` header is httpx's own, from the URL. Pooled connections are reused only
for the same origin and were checked when opened. Rewriting the URL to the IP instead would
leak the IP into redirects and error messages; doing it in the backend keeps the request as
the caller wrote it.

Each redirect hop is a new request through the same transport, so every hop is checked;
the transport itself never follows redirects (:mod:`vidserve.media.fetch` follows at most
five by hand; webhooks follow none). The transport also refuses URLs that are not http(s)
or that carry credentials (``user:pass@``), and connects only to the URL's own port.

The backend optionally holds an absolute deadline: every resolution, connect, TLS
handshake, read and write is bounded by what is left of it, so a whole fetch (redirects
included) ends on time even against a server that drips one byte at a time.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import re
import select
import socket
import ssl
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import httpcore
import httpx

from vidserve.errors import VidserveError

IPAddress: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network
#: A socket address as ``getaddrinfo`` gives it: ``(host, port)`` or ``(host, port, flow, scope)``.
SockAddr: TypeAlias = tuple[Any, ...]

#: Where an operator opens internal hosts; named in every refusal.
ALLOW_SETTING = "VIDSERVE_ALLOW_HOSTS"

#: Cloud metadata services, refused even where a broader CIDR is allowed: only an entry for
#: exactly that address (or the host name used) opens one.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, DigitalOcean, OpenStack ...
        "169.254.170.2",  # AWS ECS task metadata
        "169.254.170.23",  # AWS EKS pod identity
        "100.100.100.200",  # Alibaba Cloud
        "192.0.0.192",  # Oracle Cloud (legacy)
        "fd00:ec2::254",  # AWS over IPv6
        "fd00:ec2::23",  # AWS EKS pod identity over IPv6
    )
)
METADATA_NAMES = frozenset({"metadata.google.internal", "metadata.goog", "metadata"})


def _table(*rows: tuple[str, str]) -> tuple[tuple[IPNetwork, str], ...]:
    return tuple((ipaddress.ip_network(net), rule) for net, rule in rows)


# First match wins, so narrower ranges come before the ranges that contain them.
_V4_RULES = _table(
    ("0.0.0.0/32", "the unspecified address"),
    ("0.0.0.0/8", "a reserved ('this network') address"),
    ("10.0.0.0/8", "a private address"),
    ("100.64.0.0/10", "a carrier-grade NAT address"),
    ("127.0.0.0/8", "a loopback address"),
    ("169.254.0.0/16", "a link-local address"),
    ("172.16.0.0/12", "a private address"),
    ("192.0.0.0/24", "a reserved (IETF protocol) address"),
    ("192.0.2.0/24", "a documentation address"),
    ("192.88.99.0/24", "a reserved (6to4 relay) address"),
    ("192.168.0.0/16", "a private address"),
    ("198.18.0.0/15", "a benchmarking address"),
    ("198.51.100.0/24", "a documentation address"),
    ("203.0.113.0/24", "a documentation address"),
    ("224.0.0.0/4", "a multicast address"),
    ("240.0.0.0/4", "a reserved address"),
)
_V6_RULES = _table(
    ("::/128", "the unspecified address"),
    ("::1/128", "a loopback address"),
    ("64:ff9b:1::/48", "a private (local NAT64) address"),
    ("100::/64", "a reserved (discard) address"),
    ("2001::/23", "a reserved (IETF protocol) address"),
    ("2001:db8::/32", "a documentation address"),
    ("3fff::/20", "a documentation address"),
    ("fc00::/7", "a private (unique local) address"),
    ("fe80::/10", "a link-local address"),
    ("fec0::/10", "a private (site-local) address"),
    ("ff00::/8", "a multicast address"),
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_GLOBAL_UNICAST_V6 = ipaddress.ip_network("2000::/3")
_HOSTNAME = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)(\.(?!-)[a-z0-9_-]{1,63}(?<!-))*")


class BlockedHostError(VidserveError):
    """A URL or address vidserve will not connect to; the message names the rule broken."""

    def __init__(self, message: str, *, host: str = "", address: str | None = None) -> None:
        self.host = host
        self.address = address
        super().__init__(message)


def classify(address: IPAddress) -> str | None:
    """Why ``address`` is internal ("a private address 10.0.0.5"), or None when public.
    Addresses embedding an IPv4 address (IPv4-mapped, NAT64, 6to4) are judged by it."""
    if address in METADATA_ADDRESSES:
        return f"a cloud metadata address {address}"
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_v4(address)
        if embedded is not None:
            kind, inner = embedded
            why = classify(inner)
            return None if why is None else f"{address}, the {kind} form of {why}"
        if address not in _GLOBAL_UNICAST_V6 and not any(address in n for n, _ in _V6_RULES):
            return f"a reserved address {address}"
    rules = _V4_RULES if isinstance(address, ipaddress.IPv4Address) else _V6_RULES
    for network, rule in rules:
        if address in network:
            return f"{rule} {address}"
    return None


def _embedded_v4(address: ipaddress.IPv6Address) -> tuple[str, ipaddress.IPv4Address] | None:
    if address.ipv4_mapped is not None:
        return "IPv4-mapped", address.ipv4_mapped
    if address in _NAT64:
        return "NAT64", ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour is not None:
        return "6to4", address.sixtofour
    return None


def _normal_name(host: str) -> str:
    return host.strip().lower().rstrip(".")


def _parse_ip(host: str) -> IPAddress | None:
    try:
        # A zone ("fe80::1%eth0") does not change which range an address is in.
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


@dataclass(frozen=True)
class HostPolicy:
    """Which hosts and addresses outbound connections may reach. The default (nothing
    allowed) reaches public addresses only."""

    #: Host names allowed whatever they resolve to (lower case, no trailing dot).
    names: frozenset[str] = frozenset()
    #: Addresses and CIDRs allowed although internal.
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def from_allow(cls, allow_hosts: Sequence[str]) -> HostPolicy:
        """A policy from ``VIDSERVE_ALLOW_HOSTS`` entries: host names (``minio``,
        ``files.internal``), IP addresses (``10.0.0.5``, ``[fd00::5]``) and CIDRs
        (``10.0.0.0/8``). Raises ValueError naming the first invalid entry."""
        return _policy_from(tuple(allow_hosts))

    def check_url(self, url: str | httpx.URL) -> httpx.URL:
        """The parsed URL when its form may be connected to: http(s), a host and no
        credentials. Its host's addresses are checked when connecting."""
        try:
            parsed = url if isinstance(url, httpx.URL) else httpx.URL(url)
        except httpx.InvalidURL as exc:
            raise BlockedHostError(f"not a valid URL: {exc}") from None
        if parsed.scheme not in ("http", "https"):
            raise BlockedHostError(
                f"the URL's scheme is {parsed.scheme or '(none)'!r}; only http and https "
                "URLs are allowed"
            )
        if not parsed.host:
            raise BlockedHostError("the URL has no host")
        if parsed.userinfo:
            raise BlockedHostError(
                "the URL carries credentials (user:password@), which vidserve does not accept "
                "in a URL",
                host=parsed.host,
            )
        return parsed

    def resolve(
        self,
        host: str,
        port: int,
        *,
        timeout: float | None = None,
        action: str = "connect to",
    ) -> list[tuple[int, SockAddr]]:
        """Resolve ``host`` once and check every address: ``(family, sockaddr)`` pairs to
        connect to. Raises :class:`BlockedHostError` when any address is refused, and
        ``OSError`` (``socket.gaierror``, ``TimeoutError``) when the name does not resolve
        within ``timeout`` seconds."""
        name = _normal_name(host)
        literal = _parse_ip(name)
        if literal is not None:
            why = None if self._allows_address(literal) else classify(literal)
            if why is not None:
                raise self._refusal(f"the URL's host is {why}", host, str(literal), action)
            # Numeric only: a literal is never looked up in DNS.
            return _addresses(_getaddrinfo(name.strip("[]"), port, socket.AI_NUMERICHOST, None))
        if not _HOSTNAME.fullmatch(name):
            raise BlockedHostError(f"{host!r} is not a valid host name", host=host)
        allowed_by_name = name in self.names
        if name in METADATA_NAMES and not allowed_by_name:
            raise self._refusal(f"{name} is a cloud metadata service", host, None, action)
        found = _addresses(_getaddrinfo(name, port, 0, timeout))
        if not found:
            raise socket.gaierror(socket.EAI_NONAME, f"{name} has no IPv4 or IPv6 address")
        if not allowed_by_name:
            for _, sockaddr in found:
                address = ipaddress.ip_address(sockaddr[0].split("%", 1)[0])
                why = None if self._allows_address(address) else classify(address)
                if why is not None:
                    raise self._refusal(f"{name} resolves to {why}", host, str(address), action)
        return found

    def _allows_address(self, address: IPAddress) -> bool:
        candidates: list[IPAddress] = [address]
        if isinstance(address, ipaddress.IPv6Address) and (inner := _embedded_v4(address)):
            candidates.append(inner[1])
        for candidate in candidates:
            for network in self.networks:
                if candidate not in network:
                    continue
                # A CIDR opened for a subnet must not open the metadata service inside it.
                if candidate not in METADATA_ADDRESSES or network.num_addresses == 1:
                    return True
        return False

    @staticmethod
    def _refusal(what: str, host: str, address: str | None, action: str) -> BlockedHostError:
        return BlockedHostError(
            f"{what}, which vidserve does not {action}; an operator can allow it with "
            f"{ALLOW_SETTING}",
            host=host,
            address=address,
        )


#: The default policy: public addresses only.
PUBLIC_ONLY = HostPolicy()


@functools.lru_cache(maxsize=32)
def _policy_from(entries: tuple[str, ...]) -> HostPolicy:
    # Cached: callers parse the same setting on every fetch and every submit.
    names: set[str] = set()
    networks: list[IPNetwork] = []
    for entry in entries:
        text = entry.strip()
        bare = text[1:-1] if text.startswith("[") and text.endswith("]") else text
        try:
            networks.append(ipaddress.ip_network(bare, strict=False))
            continue
        except ValueError:
            pass
        name = _normal_name(bare)
        if "/" in name or ":" in name or not name or not _HOSTNAME.fullmatch(name):
            raise ValueError(
                f"{ALLOW_SETTING} entry {entry!r} is not a host name, an IP address or a CIDR "
                "(write it without scheme, port or path)"
            )
        names.add(name)
    return HostPolicy(frozenset(names), tuple(networks))


def _getaddrinfo(host: str, port: int, flags: int, timeout: float | None) -> list[tuple[Any, ...]]:
    def lookup() -> list[tuple[Any, ...]]:
        return socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP, flags=flags
        )

    if timeout is None:
        return lookup()
    # getaddrinfo takes no timeout: wait for it in a thread, and leave a stuck one behind.
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(lookup())
        except OSError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run, name="vidserve-resolve", daemon=True)
    thread.start()
    thread.join(max(timeout, 0.0))
    if not outcome:
        raise TimeoutError(f"resolving {host} took longer than {timeout:.3g} s")
    if isinstance(outcome[0], OSError):
        raise outcome[0]
    result: list[tuple[Any, ...]] = outcome[0]
    return result


def _addresses(infos: Iterable[tuple[Any, ...]]) -> list[tuple[int, SockAddr]]:
    seen: list[tuple[int, SockAddr]] = []
    for family, _type, _proto, _name, sockaddr in infos:
        pair = (int(family), tuple(sockaddr))
        if family in (socket.AF_INET, socket.AF_INET6) and pair not in seen:
            seen.append(pair)
    return seen


# --- the pinned connection ------------------------------------------------------------------


def _left(
    timeout: float | None, deadline: float | None, expired: type[httpcore.TimeoutException]
) -> float | None:
    """``timeout`` shortened to what is left before ``deadline``."""
    if deadline is None:
        return timeout
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise expired("the deadline passed")
    return remaining if timeout is None else min(timeout, remaining)


@contextlib.contextmanager
def _socket_errors(
    on_timeout: type[httpcore.TimeoutException], on_error: type[httpcore.NetworkError]
) -> Iterator[None]:
    try:
        yield
    except TimeoutError as exc:  # socket.timeout is TimeoutError
        raise on_timeout(str(exc) or "timed out") from exc
    except OSError as exc:
        raise on_error(str(exc)) from exc


class _Stream(httpcore.NetworkStream):
    """A socket for httpcore whose every wait ends by the deadline."""

    def __init__(self, sock: socket.socket, deadline: float | None) -> None:
        self._sock = sock
        self._deadline = deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        with _socket_errors(httpcore.ReadTimeout, httpcore.ReadError):
            self._sock.settimeout(_left(timeout, self._deadline, httpcore.ReadTimeout))
            return self._sock.recv(max_bytes)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        with _socket_errors(httpcore.WriteTimeout, httpcore.WriteError):
            self._sock.settimeout(_left(timeout, self._deadline, httpcore.WriteTimeout))
            self._sock.sendall(buffer)  # the timeout bounds the whole call (Python >= 3.5)

    def close(self) -> None:
        self._sock.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        # server_hostname is the URL's host name: SNI and certificate checks use the name.
        try:
            with _socket_errors(httpcore.ConnectTimeout, httpcore.ConnectError):
                self._sock.settimeout(_left(timeout, self._deadline, httpcore.ConnectTimeout))
                tls = ssl_context.wrap_socket(self._sock, server_hostname=server_hostname)
        except BaseException:
            self.close()
            raise
        return _Stream(tls, self._deadline)

    def get_extra_info(self, info: str) -> Any:
        if info == "ssl_object":
            return self._sock if isinstance(self._sock, ssl.SSLSocket) else None
        if info == "client_addr":
            return self._sock.getsockname()
        if info == "server_addr":
            return self._sock.getpeername()
        if info == "socket":
            return self._sock
        if info == "is_readable":
            # httpcore asks before reusing an idle connection: readable means closed or junk.
            if self._sock.fileno() < 0:
                return True
            return bool(select.select([self._sock], [], [], 0)[0])
        return None


class _GuardedBackend(httpcore.NetworkBackend):
    """Connects only to addresses the policy allows, resolving each host once."""

    def __init__(self, policy: HostPolicy, action: str, deadline: float | None) -> None:
        self._policy = policy
        self._action = action
        self._deadline = deadline

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        wait = _left(timeout, self._deadline, httpcore.ConnectTimeout)
        try:
            addresses = self._policy.resolve(host, port, timeout=wait, action=self._action)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(str(exc)) from None
        except OSError as exc:
            raise httpcore.ConnectError(f"could not resolve {host}: {exc}") from None
        failure: httpcore.ConnectError | httpcore.ConnectTimeout | None = None
        for family, sockaddr in addresses:
            sock = socket.socket(family, socket.SOCK_STREAM)
            try:
                with _socket_errors(httpcore.ConnectTimeout, httpcore.ConnectError):
                    for option in socket_options or ():
                        sock.setsockopt(*option)
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    if local_address is not None:
                        sock.bind((local_address, 0))
                    sock.settimeout(_left(timeout, self._deadline, httpcore.ConnectTimeout))
                    # The checked address itself: the name is not looked up again.
                    sock.connect(sockaddr)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                sock.close()
                failure = exc
                continue
            except BaseException:
                sock.close()
                raise
            return _Stream(sock, self._deadline)
        assert failure is not None  # noqa: S101 - resolve() never returns an empty list
        raise failure

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        raise BlockedHostError("vidserve does not connect to unix sockets")


# httpcore's errors as httpx's, most specific first (what httpx's own transport does).
_HTTPX_ERRORS: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.ProxyError, httpx.ProxyError),
)


@contextlib.contextmanager
def _as_httpx_errors() -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        for core, mapped in _HTTPX_ERRORS:
            if isinstance(exc, core):
                raise mapped(str(exc)) from exc
        raise


class _ResponseBody(httpx.SyncByteStream):
    def __init__(self, stream: Iterable[bytes]) -> None:
        self._stream = stream

    def __iter__(self) -> Iterator[bytes]:
        with _as_httpx_errors():
            yield from self._stream

    def close(self) -> None:
        close = getattr(self._stream, "close", None)
        if close is not None:
            close()


class GuardedTransport(httpx.BaseTransport):
    """An httpx transport that reaches only what ``policy`` allows, each connection pinned
    to the address that was checked (see the module docstring). ``action`` completes the
    refusal ("vidserve does not fetch ..."); ``deadline`` (``time.monotonic()`` based)
    bounds every network wait; ``verify`` is httpx's (True, a CA bundle or an SSLContext).
    A :class:`BlockedHostError` passes through ``client.send`` as itself."""

    def __init__(
        self,
        policy: HostPolicy,
        *,
        action: str = "connect to",
        deadline: float | None = None,
        verify: ssl.SSLContext | str | bool = True,
    ) -> None:
        self.policy = policy
        self.action = action
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=verify),
            network_backend=_GuardedBackend(policy, action, deadline),
            max_connections=10,
            http1=True,
            http2=False,
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Send one request (no redirects followed) over a checked, pinned connection."""
        self.policy.check_url(request.url)
        if not isinstance(request.stream, httpx.SyncByteStream):
            raise TypeError("GuardedTransport needs a synchronous request body")
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,  # the URL's own port, or the scheme's default
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with _as_httpx_errors():
            response = self._pool.handle_request(core_request)
        assert isinstance(response.stream, Iterable)  # noqa: S101 - httpcore's sync pool
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_ResponseBody(response.stream),
            extensions=response.extensions,
        )

    def close(self) -> None:
        """Close the pooled connections."""
        self._pool.close()


def guarded_client(
    policy: HostPolicy,
    *,
    action: str = "connect to",
    timeout: float | None = None,
    deadline: float | None = None,
    verify: ssl.SSLContext | str | bool = True,
) -> httpx.Client:
    """An ``httpx.Client`` on a :class:`GuardedTransport` that follows no redirects and
    ignores proxy and netrc settings from the environment (a proxy would connect on our
    behalf to addresses nobody checked)."""
    transport = GuardedTransport(policy, action=action, deadline=deadline, verify=verify)
    return httpx.Client(
        transport=transport, timeout=timeout, follow_redirects=False, trust_env=False
    )
