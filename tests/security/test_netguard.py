"""The SSRF guard: which addresses are internal, the allow list, and connections pinned to
the address that was checked (no DNS rebinding), with TLS still on the host name."""

from __future__ import annotations

import datetime
import http.server
import ipaddress
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from vidserve.media.netguard import (
    PUBLIC_ONLY,
    BlockedHostError,
    HostPolicy,
    classify,
    guarded_client,
)

REAL_GETADDRINFO = socket.getaddrinfo


@pytest.mark.parametrize(
    ("address", "rule"),
    [
        ("127.0.0.1", "a loopback address 127.0.0.1"),
        ("127.5.6.7", "a loopback address"),
        ("10.0.0.5", "a private address 10.0.0.5"),
        ("172.16.3.4", "a private address"),
        ("192.168.1.1", "a private address"),
        ("169.254.1.1", "a link-local address"),
        ("169.254.169.254", "a cloud metadata address 169.254.169.254"),
        ("100.100.100.200", "a cloud metadata address"),
        ("100.64.0.1", "a carrier-grade NAT address"),
        ("0.0.0.0", "the unspecified address"),  # noqa: S104 - classified, not bound
        ("0.1.2.3", "'this network'"),
        ("224.0.0.1", "a multicast address"),
        ("240.0.0.1", "a reserved address"),
        ("255.255.255.255", "a reserved address"),
        ("198.18.0.1", "a benchmarking address"),
        ("192.0.2.1", "a documentation address"),
        ("203.0.113.9", "a documentation address"),
        ("::1", "a loopback address ::1"),
        ("::", "the unspecified address"),
        ("fd12:3456::1", "a private (unique local) address"),
        ("fe80::1", "a link-local address"),
        ("ff02::1", "a multicast address"),
        ("2001:db8::1", "a documentation address"),
        ("fd00:ec2::254", "a cloud metadata address"),
        ("::ffff:127.0.0.1", "the IPv4-mapped form of a loopback address 127.0.0.1"),
        ("::ffff:10.0.0.5", "the IPv4-mapped form of a private address 10.0.0.5"),
        ("::ffff:169.254.169.254", "the IPv4-mapped form of a cloud metadata address"),
        ("64:ff9b::a00:5", "the NAT64 form of a private address 10.0.0.5"),
        ("2002:7f00:1::1", "the 6to4 form of a loopback address 127.0.0.1"),
        ("::1.2.3.4", "a reserved address"),  # IPv4-compatible, deprecated
    ],
)
def test_internal_addresses_are_named_by_their_rule(address: str, rule: str) -> None:
    why = classify(ipaddress.ip_address(address))
    assert why is not None and rule in why


@pytest.mark.parametrize(
    "address", ["8.8.8.8", "93.184.215.14", "2606:4700::1111", "::ffff:8.8.8.8", "2001:4860::8"]
)
def test_public_addresses_pass(address: str) -> None:
    assert classify(ipaddress.ip_address(address)) is None


def test_allow_list_takes_names_addresses_and_cidrs() -> None:
    policy = HostPolicy.from_allow(["MinIO.", " 10.0.0.0/8 ", "127.0.0.2", "[fd00::5]"])
    assert policy.names == frozenset({"minio"})
    assert [str(n) for n in policy.networks] == ["10.0.0.0/8", "127.0.0.2/32", "fd00::5/128"]


@pytest.mark.parametrize("entry", ["http://minio", "minio:9000", "10.0.0.0/33", "a b", "", "-x"])
def test_invalid_allow_entries_are_named(entry: str) -> None:
    with pytest.raises(ValueError, match="VIDSERVE_ALLOW_HOSTS entry") as err:
        HostPolicy.from_allow(["ok.example", entry])
    assert repr(entry) in str(err.value)


def test_literal_addresses_are_refused_unless_allowed() -> None:
    with pytest.raises(BlockedHostError) as err:
        PUBLIC_ONLY.resolve("10.0.0.5", 80, action="fetch")
    assert str(err.value) == (
        "the URL's host is a private address 10.0.0.5, which vidserve does not fetch; "
        "an operator can allow it with VIDSERVE_ALLOW_HOSTS"
    )
    policy = HostPolicy.from_allow(["10.0.0.0/8"])
    assert policy.resolve("10.0.0.5", 80) == [(socket.AF_INET, ("10.0.0.5", 80))]
    # An allowed CIDR opens the IPv4-mapped form of its addresses too.
    assert policy.resolve("::ffff:10.0.0.5", 80)[0][0] == socket.AF_INET6


def test_metadata_needs_its_exact_address_even_inside_an_allowed_cidr() -> None:
    with pytest.raises(BlockedHostError, match="cloud metadata address 169.254.169.254"):
        HostPolicy.from_allow(["169.254.0.0/16"]).resolve("169.254.169.254", 80)
    assert HostPolicy.from_allow(["169.254.0.0/16"]).resolve("169.254.1.1", 80)
    assert HostPolicy.from_allow(["169.254.169.254"]).resolve("169.254.169.254", 80)


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> Callable[..., list[str]]:
    """Fake DNS: ``dns("name", "addr", ...)`` makes ``name`` resolve to the addresses (one
    list per lookup: the last repeats); returns the names looked up, in order."""
    answers: dict[str, list[list[str]]] = {}
    lookups: list[str] = []

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in answers:
            return REAL_GETADDRINFO(host, port, *args, **kwargs)
        lookups.append(host)
        queue = answers[host]
        addresses = queue.pop(0) if len(queue) > 1 else queue[0]
        return [
            (
                socket.AF_INET6 if ":" in a else socket.AF_INET,
                socket.SOCK_STREAM,
                socket.IPPROTO_TCP,
                "",
                (a, port, 0, 0) if ":" in a else (a, port),
            )
            for a in addresses
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)

    def add(name: str, *per_lookup: list[str]) -> list[str]:
        answers[name] = list(per_lookup)
        return lookups

    return add


def test_a_name_is_refused_when_any_of_its_addresses_is_internal(
    dns: Callable[..., list[str]],
) -> None:
    dns("mixed.example", ["93.184.215.14", "10.0.0.5"])
    with pytest.raises(BlockedHostError) as err:
        PUBLIC_ONLY.resolve("mixed.example", 443, action="fetch")
    assert str(err.value).startswith(
        "mixed.example resolves to a private address 10.0.0.5, which vidserve does not fetch"
    )
    assert err.value.address == "10.0.0.5"


def test_a_name_allowed_by_name_may_resolve_anywhere(dns: Callable[..., list[str]]) -> None:
    dns("minio", ["10.1.2.3"])
    found = HostPolicy.from_allow(["minio"]).resolve("MINIO.", 9000)
    assert found == [(socket.AF_INET, ("10.1.2.3", 9000))]


def test_metadata_names_are_refused_before_any_lookup(dns: Callable[..., list[str]]) -> None:
    lookups = dns("metadata.google.internal", ["93.184.215.14"])
    with pytest.raises(BlockedHostError, match="metadata.google.internal is a cloud metadata"):
        PUBLIC_ONLY.resolve("metadata.google.internal.", 80)
    assert lookups == []


@pytest.mark.parametrize(
    ("url", "rule"),
    [
        ("ftp://example.com/a.png", "scheme is 'ftp'"),
        ("http://user:pw@example.com/a.png", "carries credentials"),
        ("http://user@example.com/a.png", "carries credentials"),
    ],
)
def test_url_forms_are_refused_by_rule(url: str, rule: str) -> None:
    with pytest.raises(BlockedHostError, match=rule):
        PUBLIC_ONLY.check_url(url)
    # The transport refuses them too, before any connection.
    with guarded_client(PUBLIC_ONLY) as client, pytest.raises(BlockedHostError, match=rule):
        client.get(url)


def test_the_connection_goes_to_the_checked_address_not_a_later_answer(
    dns: Callable[..., list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # DNS rebinding: the first answer is public, every later one is loopback.
    lookups = dns("rebind.example", ["93.184.215.14"], ["127.0.0.1"])
    attempts: list[Any] = []

    def connect(self: socket.socket, address: Any) -> None:
        attempts.append(address)
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(socket.socket, "connect", connect)
    with guarded_client(PUBLIC_ONLY) as client, pytest.raises(httpx.ConnectError):
        client.get("http://rebind.example:8080/")
    assert attempts == [("93.184.215.14", 8080)]
    assert lookups == ["rebind.example"]  # resolved once, for the check and the connection


def test_a_first_answer_that_is_internal_never_connects(
    dns: Callable[..., list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    dns("rebind.example", ["127.0.0.1"], ["93.184.215.14"])
    attempts: list[Any] = []
    monkeypatch.setattr(socket.socket, "connect", lambda self, a: attempts.append(a))
    with guarded_client(PUBLIC_ONLY) as client, pytest.raises(BlockedHostError, match="loopback"):
        client.get("http://rebind.example/")
    assert attempts == []


class _Recorder(http.server.BaseHTTPRequestHandler):
    seen: list[tuple[str, str | None]]
    name = ""

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self.seen.append((self.name, self.headers.get("Host")))
        body = self.name.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def serve() -> Iterator[Callable[..., http.server.ThreadingHTTPServer]]:
    """Start recording HTTP servers: ``serve(name, host, port=0, tls=None)``."""
    servers: list[http.server.ThreadingHTTPServer] = []

    def start(
        name: str, host: str, port: int = 0, tls: ssl.SSLContext | None = None
    ) -> http.server.ThreadingHTTPServer:
        handler = type("Handler", (_Recorder,), {"name": name, "seen": []})
        server = http.server.ThreadingHTTPServer((host, port), handler)
        if tls is not None:
            server.socket = tls.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def seen(server: http.server.ThreadingHTTPServer) -> list[tuple[str, str | None]]:
    handler: Any = server.RequestHandlerClass
    result: list[tuple[str, str | None]] = handler.seen
    return result


def test_a_live_connection_is_pinned_and_a_new_one_is_checked_afresh(
    dns: Callable[..., list[str]], serve: Callable[..., http.server.ThreadingHTTPServer]
) -> None:
    # Two real servers on one port: 127.0.0.2 is allowed, 127.0.0.1 is not.
    allowed = serve("allowed", "127.0.0.2")
    port = allowed.server_address[1]
    try:
        internal = serve("internal", "127.0.0.1", port)
    except OSError:
        pytest.skip(f"port {port} is taken on 127.0.0.1")
    lookups = dns("rebind.example", ["127.0.0.2"], ["127.0.0.1"])
    url = f"http://rebind.example:{port}/"
    with guarded_client(HostPolicy.from_allow(["127.0.0.2"])) as client:
        assert client.get(url).text == "allowed"
        assert lookups == ["rebind.example"]
        # The server closed that connection; the next one resolves again, gets the
        # rebound answer, and is refused rather than connected.
        with pytest.raises(BlockedHostError, match="loopback address 127.0.0.1"):
            client.get(url)
    assert seen(allowed) == [("allowed", f"rebind.example:{port}")]
    assert seen(internal) == []


def _certificate(tmp_path: Path, name: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_tls_sni_host_header_and_certificate_use_the_name_not_the_pinned_ip(
    tmp_path: Path,
    dns: Callable[..., list[str]],
    serve: Callable[..., http.server.ThreadingHTTPServer],
) -> None:
    cert, key = _certificate(tmp_path, "pinned.example")
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert, key)
    names: list[str | None] = []

    def record_sni(sock: ssl.SSLObject, name: str | None, ctx: ssl.SSLContext) -> None:
        names.append(name)

    server_tls.sni_callback = record_sni
    server = serve("tls", "127.0.0.1", tls=server_tls)
    port = server.server_address[1]
    dns("pinned.example", ["127.0.0.1"])
    trust = ssl.create_default_context(cafile=str(cert))
    policy = HostPolicy.from_allow(["pinned.example", "127.0.0.1"])
    with guarded_client(policy, verify=trust) as client:
        assert client.get(f"https://pinned.example:{port}/").text == "tls"
        # The same server by its IP: the certificate is for the name, so this must fail.
        with pytest.raises(httpx.ConnectError, match="certificate verify failed"):
            client.get(f"https://127.0.0.1:{port}/")
    assert names[0] == "pinned.example"
    assert seen(server) == [("tls", f"pinned.example:{port}")]
