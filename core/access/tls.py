"""A self-signed TLS certificate for the dashboard, made on first use under the data root.

The certificate names localhost, 127.0.0.1, ::1 and this host's addresses, so browsers on the LAN reach the
dashboard over HTTPS (after accepting the certificate once; its SHA-256 fingerprint, printed when the server starts,
is what to compare with the one the browser shows). The private key is written with mode 0600.
"""
from __future__ import annotations

import datetime
import hashlib
import ipaddress
import logging
import socket
import ssl
from pathlib import Path

from core.errors import UserError
from core.files.atomic import write_bytes_atomic
from core.files.private import write_private

log = logging.getLogger(__name__)

TLS_DIR = "tls"
CERT_FILE = "dashboard-cert.pem"
KEY_FILE = "dashboard-key.pem"
VALID_DAYS = 825  # the longest validity browsers accept for a server certificate


def primary_address() -> str | None:
    """The IPv4 address other hosts of the LAN most likely reach this one at (the default route's source)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:  # connect() on UDP sends nothing
        try:
            probe.connect(("10.255.255.255", 1))
            return probe.getsockname()[0]
        except OSError:
            return None


def host_addresses() -> list[str]:
    """This host's IP addresses as far as they can be learned without network traffic (loopback included)."""
    addresses = {"127.0.0.1", "::1"}
    try:
        addresses.update(info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None))
    except OSError:
        pass
    primary = primary_address()
    if primary:
        addresses.add(primary)
    return sorted(address.split("%")[0] for address in addresses)


def make_certificate(cert_path: Path, key_path: Path, addresses: list[str]) -> None:
    """Write a new self-signed certificate (ECDSA P-256) for localhost and `addresses`, and its key (0600)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "edge detector studio (self-signed)")])
    names = [x509.DNSName("localhost"), *(x509.IPAddress(ipaddress.ip_address(a)) for a in addresses)]
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    write_private(key_path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()))
    write_bytes_atomic(cert_path, certificate.public_bytes(serialization.Encoding.PEM))


def ensure_certificate(data_root: Path) -> tuple[Path, Path]:
    """The dashboard's (certificate, key) paths under DATA_ROOT/tls, made on first use."""
    directory = Path(data_root) / TLS_DIR
    cert_path, key_path = directory / CERT_FILE, directory / KEY_FILE
    if not (cert_path.is_file() and key_path.is_file()):
        addresses = host_addresses()
        make_certificate(cert_path, key_path, addresses)
        log.info("self-signed TLS certificate for localhost, %s written to %s", ", ".join(addresses), cert_path)
    return cert_path, key_path


def fingerprint(cert_path: str | Path) -> str:
    """The SHA-256 fingerprint of a PEM certificate as browsers show it (AB:CD:...)."""
    try:
        der = ssl.PEM_cert_to_DER_cert(Path(cert_path).read_text(encoding="ascii"))
    except (OSError, ValueError) as error:
        raise UserError(f"cannot read the TLS certificate {cert_path} ({error})") from None
    return ":".join(f"{byte:02X}" for byte in hashlib.sha256(der).digest())
