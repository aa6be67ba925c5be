"""The hall's certificates with `cryptography`: a hall CA, the broker's server certificate and the web
console's. `ca.key` present = hallq manages them (re-running keeps what is still good); absent with a
`ca.crt` present = an installer's own certificates, which hallq never touches."""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificatePublicKeyTypes,
    PrivateKeyTypes,
    PublicKeyTypes,
)
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from hallq.secure.files import Account, SecureError, write_file

CA_DAYS = 3650        # the hall CA: ten years
LEAF_DAYS = 825       # server and console certificates: the longest browsers accept
RENEW_DAYS = 30       # re-running renews a certificate that expires within this many days


@dataclass(frozen=True)
class HallCA:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey


def _now() -> datetime:
    return datetime.now(UTC)


def _load_cert(path: Path) -> x509.Certificate | None:
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise SecureError(f"{path}: not a readable PEM certificate ({e})") from None


def _load_key(path: Path) -> ec.EllipticCurvePrivateKey | None:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError) as e:
        raise SecureError(f"{path}: not a readable unencrypted PEM private key ({e})") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise SecureError(f"{path}: hallq's CA key is an EC key; remove it (and ca.crt) to start a new CA")
    return key


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _pem_cert(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _spki(public_key: PublicKeyTypes | CertificatePublicKeyTypes) -> bytes:
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _fresh(cert: x509.Certificate) -> bool:
    return cert.not_valid_after_utc - _now() > timedelta(days=RENEW_DAYS)


def general_name(host: str) -> x509.GeneralName:
    """An IP address SAN when `host` is an address, a DNS name SAN otherwise."""
    try:
        return x509.IPAddress(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return x509.DNSName(host.lower())


def names_for(*hosts: str) -> list[x509.GeneralName]:
    """The SANs of a certificate for `hosts`, plus 127.0.0.1 and localhost (clients on the box itself);
    wildcard addresses (0.0.0.0, ::) name no host and are left out."""
    out: list[x509.GeneralName] = []
    for h in (*hosts, "127.0.0.1", "localhost"):
        if not h or h.strip("[]") in ("0.0.0.0", "::"):
            continue
        n = general_name(h)
        if n not in out:
            out.append(n)
    return out


def ensure_ca(cert_path: Path, key_path: Path, hall_id: str) -> HallCA | None:
    """The hall CA, made when missing; None when `ca.crt` is the installer's own (no `ca.key`)."""
    cert, key = _load_cert(cert_path), _load_key(key_path)
    if cert is not None and key is None:
        return None
    if cert is not None and key is not None:
        if _spki(cert.public_key()) != _spki(key.public_key()):
            raise SecureError(f"{key_path} is not the key of {cert_path}; remove both to start a new hall CA")
        if _fresh(cert):
            return HallCA(cert, key)
    key = key or ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "hallq"),
                      x509.NameAttribute(NameOID.COMMON_NAME, f"hallq hall CA {hall_id}")])
    now = _now()
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    write_file(key_path, _pem_key(key), 0o600)
    write_file(cert_path, _pem_cert(cert), 0o644)
    return HallCA(cert, key)


def _signed_by(cert: x509.Certificate, ca: HallCA) -> bool:
    try:
        cert.verify_directly_issued_by(ca.cert)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _names_of(cert: x509.Certificate) -> list[x509.GeneralName]:
    try:
        return list(cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
    except x509.ExtensionNotFound:
        return []


def ensure_leaf(ca: HallCA | None, cert_path: Path, key_path: Path, common_name: str,
                names: list[x509.GeneralName], owner: Account | None = None) -> bool:
    """A server certificate of the hall CA naming `names`, kept when it is still good (signed by this CA,
    naming them all, not expiring soon) and made anew otherwise. With the installer's own CA (`ca` None)
    the files must exist and are left as they are. Returns True when it wrote new ones."""
    cert, key = _load_cert(cert_path), _load_key_any(key_path)
    if ca is None:
        if cert is None or key is None:
            raise SecureError(f"{cert_path.parent}: ca.crt is your own (there is no ca.key), so put your "
                              f"certificate in {cert_path.name} and its key in {key_path.name} (docs/security.md)")
        return False
    if (cert is not None and key is not None and _signed_by(cert, ca) and _fresh(cert)
            and all(n in _names_of(cert) for n in names) and _spki(cert.public_key()) == _spki(key.public_key())):
        return False
    new_key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    new = (x509.CertificateBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "hallq"),
                                    x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64])]))
           .issuer_name(ca.cert.subject).public_key(new_key.public_key())
           .serial_number(x509.random_serial_number())
           .not_valid_before(now - timedelta(minutes=5))
           .not_valid_after(min(now + timedelta(days=LEAF_DAYS), ca.cert.not_valid_after_utc))
           .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
           .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                        data_encipherment=False, key_agreement=True, key_cert_sign=False,
                                        crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
           .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
           .add_extension(x509.SubjectAlternativeName(names), critical=False)
           .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False)
           .sign(ca.key, hashes.SHA256()))
    write_file(key_path, _pem_key(new_key), 0o600, owner)
    write_file(cert_path, _pem_cert(new), 0o644, owner)
    return True


def _load_key_any(path: Path) -> PrivateKeyTypes | None:
    """Any private key (an installer's may be RSA), or None when missing."""
    try:
        return serialization.load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError) as e:
        raise SecureError(f"{path}: not a readable unencrypted PEM private key ({e})") from None


def console_hosts(listen: str, mqtt_host: str) -> list[str]:
    """The names the web console is reached by: its listen host (unless a wildcard), the broker's host and
    this machine's name."""
    host = listen.rsplit(":", 1)[0].strip("[]")
    return [h for h in (host, mqtt_host, socket.gethostname()) if h]
