"""HTTPS for the simulator: a certificate you bring, or a throwaway self-signed one for a host name.

A browser client of MIAW insists on ``https://<name>.my.salesforce-scrt.com``; with a host mapping to the
loopback address (README) and this certificate it talks to the simulator unchanged. The certificate is made
with ``cryptography`` (EC P-256, 30 days, which Chromium accepts; CA:TRUE so curl's ``--cacert`` and
OpenSSL's ``SSL_CERT_FILE`` can trust it directly).
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["SelfSigned", "make_self_signed", "server_context", "trust_instructions"]

VALID_DAYS = 30
"""Chromium refuses server certificates valid for more than 398 days; a throwaway needs far less."""


@dataclass(frozen=True)
class SelfSigned:
    """A certificate written to disk, and how a browser can pin it."""

    host: str
    cert: Path
    key: Path
    spki_sha256: str
    """Base64 SHA-256 of the public key: Chromium's ``--ignore-certificate-errors-spki-list`` value."""


def make_self_signed(host: str, directory: Path) -> SelfSigned:
    """Write ``cert.pem`` and ``key.pem`` (mode 0600) for ``host``, ``localhost`` and the loopback addresses."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    alt_names: list[x509.GeneralName] = [x509.DNSName(h) for h in dict.fromkeys([host, "localhost"])]
    alt_names += [x509.IPAddress(ipaddress.ip_address(a)) for a in ("127.0.0.1", "::1")]
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.touch(mode=0o600)
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    spki = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return SelfSigned(host, cert_path, key_path, base64.b64encode(hashlib.sha256(spki).digest()).decode())


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    """A server-side TLS context for the certificate chain ``cert`` and its private key ``key``."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


def trust_instructions(made: SelfSigned, port: int) -> str:
    """What to tell the person who started the simulator: where the certificate is and how to trust it."""
    host, cert = made.host, made.cert
    return "\n".join(
        [
            f"simulator: self-signed certificate for {host}, localhost and 127.0.0.1: {cert} (key {made.key})",
            f"  curl:     curl --cacert {cert} --resolve {host}:{port}:127.0.0.1 https://{host}:{port}/_sim/status",
            f"  python:   SSL_CERT_FILE={cert} (OpenSSL's trust store for aiohttp, requests, the runtime)",
            f'  chromium: --host-resolver-rules="MAP {host} 127.0.0.1:{port}" --user-data-dir=<a fresh dir> '
            f"--ignore-certificate-errors-spki-list={made.spki_sha256}",
            f"  /etc/hosts: 127.0.0.1 {host}   (then https://{host}:{port})",
        ]
    )
