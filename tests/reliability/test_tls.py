"""TLS verification is never silently disabled.

A local HTTPS server presents a self-signed certificate for 127.0.0.1. The client, built with
its defaults, must refuse the handshake, so nothing (the key least of all) is sent. As a control
that the server and the check are sound, a client injected with a context that trusts that
certificate gets its answer from the same server.
"""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import anyio
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import fal_client
from fal_client._http import load_library

pytestmark = pytest.mark.timeout(30)

KEY = "tls-test-key-id:tls-test-key-secret"
BODY = b'{"status": "COMPLETED", "request_id": "req-1"}'


@dataclass
class TLSServer:
    """A one-thread HTTPS server: records whether handshakes failed and what requests came."""

    url: str
    cert_pem: bytes
    handshake_failures: list[str] = field(default_factory=list)
    handshake_failed: threading.Event = field(default_factory=threading.Event)
    requests: list[bytes] = field(default_factory=list)
    # The protocol each handshake settled by ALPN (the server offers h2 and http/1.1).
    alpn: list[Optional[str]] = field(default_factory=list)


def self_signed_for_localhost(directory: Path) -> tuple[Path, Path, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert_pem)
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path, cert_pem


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[TLSServer]:
    cert_path, key_path, cert_pem = self_signed_for_localhost(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    context.set_alpn_protocols(["h2", "http/1.1"])
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server = TLSServer(url=f"https://127.0.0.1:{port}", cert_pem=cert_pem)

    def serve() -> None:
        while True:
            try:
                raw, _ = listener.accept()
            except OSError:
                return  # the listener was closed: the test is over
            with raw:
                try:
                    conn = context.wrap_socket(raw, server_side=True)
                except (ssl.SSLError, OSError) as exc:
                    server.handshake_failures.append(type(exc).__name__)
                    server.handshake_failed.set()
                    continue
                server.alpn.append(conn.selected_alpn_protocol())
                with conn:
                    head = b""
                    while b"\r\n\r\n" not in head:
                        chunk = conn.recv(65536)
                        if not chunk:
                            break
                        head += chunk
                    server.requests.append(head)
                    conn.sendall(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                        + f"Content-Length: {len(BODY)}\r\nConnection: close\r\n\r\n".encode()
                        + BODY
                    )

    thread = threading.Thread(target=serve, name="tls-test-server", daemon=True)
    thread.start()
    yield server
    listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
    listener.close()
    thread.join(5)


def options(server: TLSServer, library: Optional[str]) -> dict[str, object]:
    return {
        "key": KEY,
        "queue_url": server.url,
        "http_library": library,
        "max_retries": 0,
    }


LIBRARIES = ["httpx", "httpx2"]


@pytest.mark.anyio
@pytest.mark.parametrize("library", LIBRARIES)
async def test_a_default_client_refuses_an_untrusted_certificate(
    tls_server: TLSServer, library: str
) -> None:
    pytest.importorskip(library)
    async with fal_client.AsyncClient(**options(tls_server, library)) as client:  # type: ignore[arg-type]
        with anyio.fail_after(10):
            with pytest.raises(fal_client.FalClientConnectionError) as caught:
                await client.status("fal-ai/any", "req-1")
    # The reason is in the message, whichever backend buried it how deep.
    assert "CERTIFICATE_VERIFY_FAILED" in str(caught.value)
    assert tls_server.requests == []  # nothing, and so no key, went over the connection
    assert tls_server.handshake_failed.wait(5)  # the server saw the handshake refused
    assert KEY not in str(caught.value) and KEY not in repr(caught.value)


@pytest.mark.parametrize("portal_backend", ["asyncio", "trio"])
def test_a_default_sync_client_refuses_an_untrusted_certificate(
    tls_server: TLSServer, portal_backend: str
) -> None:
    with fal_client.SyncClient(
        **options(tls_server, None),  # type: ignore[arg-type]  # the default library
        portal_backend=portal_backend,
    ) as client:
        with pytest.raises(fal_client.FalClientConnectionError, match="CERTIFICATE_VERIFY_FAILED"):
            client.status("fal-ai/any", "req-1")
    assert tls_server.requests == []


@pytest.mark.anyio
@pytest.mark.parametrize("library", LIBRARIES)
async def test_control_a_client_trusting_the_certificate_gets_through(
    tls_server: TLSServer, library: str
) -> None:
    # Proves the refusal above is certificate verification, not a broken test server.
    pytest.importorskip(library)
    lib = load_library(library)
    trusting = ssl.create_default_context(cadata=tls_server.cert_pem.decode())
    async with lib.AsyncClient(verify=trusting) as http:
        client = fal_client.AsyncClient(
            key=KEY, queue_url=tls_server.url, http_client=http, max_retries=0
        )
        with anyio.fail_after(10):
            status = await client.status("fal-ai/any", "req-1")
    assert isinstance(status, fal_client.Completed)
    (request,) = tls_server.requests
    assert request.startswith(b"GET /fal-ai/any/requests/req-1/status")


@pytest.mark.anyio
@pytest.mark.parametrize("library", LIBRARIES)
async def test_the_pool_context_verifies_certificates_and_hostnames(library: str) -> None:
    pytest.importorskip(library)
    client = fal_client.AsyncClient(key=KEY, http_library=library)
    sender = await client.engine.transport._sender()
    transport = sender.client._transport
    # httpcore's pool under the library's transport (trio), or our own (asyncio).
    context = getattr(transport, "_pool", transport)._ssl_context
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname is True
    await client.aclose()


@pytest.mark.anyio
@pytest.mark.parametrize("library", LIBRARIES)
async def test_control_our_own_pool_trusting_the_certificate_gets_through(
    tls_server: TLSServer, library: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The same control through the pool the client makes itself (on asyncio, it reaches the
    # network through asyncio's own TLS transports), trusting the certificate by
    # SSL_CERT_FILE as a user with a private CA would.
    pytest.importorskip(library)
    ca = tmp_path / "ca.pem"
    ca.write_bytes(tls_server.cert_pem)
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))
    async with fal_client.AsyncClient(**options(tls_server, library)) as client:  # type: ignore[arg-type]
        with anyio.fail_after(10):
            status = await client.status("fal-ai/any", "req-1")
    assert isinstance(status, fal_client.Completed)
    (request,) = tls_server.requests
    assert request.startswith(b"GET /fal-ai/any/requests/req-1/status")
    # Offered HTTP/1.1 by ALPN, as the library's own pool does; never h2, which it cannot speak.
    assert tls_server.alpn == ["http/1.1"]
