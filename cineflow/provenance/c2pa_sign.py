"""C2PA: sign a written file with a project-local certificate, and read a file's manifest back.

The certificate is made on first use: a small local CA and an ES256 signing certificate issued by it
(C2PA validators reject a self-signed end-entity certificate), kept as one PEM file (key + chain) under
`$CINEFLOW_C2PA_DIR`, else `~/.cache/cineflow/c2pa/`. Nobody's trust list knows that CA, so validators
answer "untrusted" for the signer while checking the signature and the file's hash in full: offline,
"valid but untrusted" is the expected verdict for an intact file of ours.

mp4, gif, png and jpeg carry the manifest inside the file. Containers the C2PA SDK cannot embed into
(webm, mkv) get a detached manifest store beside the file, `NAME.c2pa`, bound to the file's bytes.
"""

from __future__ import annotations

import datetime
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

GENERATION_LABEL = "org.cineflow.generation"  # our assertion: the generation manifest
CLAIM_GENERATOR = "cineflow"
SIDECAR_SUFFIX = ".c2pa"
# Validation codes that do not make an intact file of ours invalid offline.
EXPECTED_OFFLINE = {"signingCredential.untrusted"}
# Media types by suffix; None: no embedding, a sidecar manifest instead.
EMBEDDED = {
    ".mp4": "video/mp4",
    ".gif": "image/gif",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
}
DETACHED = {".webm": "video/webm", ".mkv": "video/x-matroska"}
_KEY_FILE = "signer.pem"
_TRAINED = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"


@dataclass
class ManifestCheck:
    """What the C2PA reader found: `valid` means signed, hash-bound to these bytes, and ours."""

    found: bool
    valid: bool
    state: str | None = None  # the SDK's validation_state: Valid / Invalid / Trusted
    failures: list[str] = field(default_factory=list)  # validation codes, minus the expected offline ones
    signer: str | None = None
    generation: dict[str, Any] | None = None  # our assertion's data
    detached: bool = False
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


def credentials_dir() -> Path:
    return Path(os.environ.get("CINEFLOW_C2PA_DIR") or Path.home() / ".cache" / "cineflow" / "c2pa")


def media_type(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in EMBEDDED and suffix not in DETACHED:
        raise ValueError(f"{path}: no C2PA support for {suffix!r}; use one of {sorted(EMBEDDED | DETACHED)}")
    return EMBEDDED.get(suffix) or DETACHED[suffix]


def sign(source: Path, dest: Path, generation: dict[str, Any], title: str) -> None:
    """Sign `source` into `dest` (embedded), or write `dest`'s sidecar for detached formats.

    For detached formats `dest` must already hold the final bytes (source == dest is fine there).
    """
    import c2pa

    mime = media_type(dest)
    manifest = {
        "claim_generator_info": [{"name": CLAIM_GENERATOR, "version": _version()}],
        "title": title,
        "assertions": [
            {
                "label": "c2pa.actions",
                "data": {"actions": [{"action": "c2pa.created", "digitalSourceType": _TRAINED}]},
            },
            {"label": GENERATION_LABEL, "data": generation},
        ],
    }
    signer = _signer()
    with c2pa.Builder(manifest) as builder:
        if mime in DETACHED.values():
            builder.set_no_embed()
            with open(source, "rb") as src:
                store = builder.sign(signer, mime, src, _NullSink())
            _atomic_write(sidecar(dest), store)
            return
        with open(source, "rb") as src, open(dest, "w+b") as dst:
            builder.sign(signer, mime, src, dst)


def read(path: Path) -> ManifestCheck:
    """Read and validate the manifest of `path` (embedded, or from its sidecar)."""
    import c2pa

    try:
        mime = media_type(path)
    except ValueError as e:
        return ManifestCheck(found=False, valid=False, error=str(e))
    detached = mime in DETACHED.values()
    try:
        with open(path, "rb") as stream:
            if detached:
                side = sidecar(path)
                if not side.is_file():
                    return ManifestCheck(found=False, valid=False, detached=True, error=f"no {side.name}")
                reader = c2pa.Reader(mime, stream, side.read_bytes())
            else:
                reader = c2pa.Reader.try_create(mime, stream)
                if reader is None:
                    return ManifestCheck(found=False, valid=False)
            with reader:
                state = reader.get_validation_state()
                results = reader.get_validation_results() or {}
                active = reader.get_active_manifest() or {}
    except c2pa.C2paError as e:
        return ManifestCheck(found=True, valid=False, detached=detached, error=f"{type(e).__name__}: {e}")
    codes = [item["code"] for item in results.get("activeManifest", {}).get("failure", [])]
    failures = [c for c in codes if c not in EXPECTED_OFFLINE]
    generation = next(
        (a.get("data") for a in active.get("assertions", []) if a.get("label") == GENERATION_LABEL), None
    )
    info = active.get("signature_info") or {}
    return ManifestCheck(
        found=True,
        valid=state in ("Valid", "Trusted") and not failures and generation is not None,
        state=state,
        failures=failures,
        signer=" / ".join(x for x in (info.get("common_name"), info.get("issuer")) if x) or None,
        generation=generation,
        detached=detached,
    )


def sidecar(path: Path) -> Path:
    return path.with_name(path.name + SIDECAR_SUFFIX)


class _NullSink:
    """A write-only stream that drops the bytes: a detached signing needs a destination but no copy."""

    def __init__(self) -> None:
        self.pos = 0

    def write(self, data: bytes) -> int:
        self.pos += len(data)
        return len(data)

    def seek(self, offset: int, whence: int = 0) -> int:
        self.pos = offset if whence == 0 else self.pos + offset if whence == 1 else self.pos
        return self.pos

    def tell(self) -> int:
        return self.pos

    def read(self, size: int = -1) -> bytes:
        return b""

    def flush(self) -> None:
        pass


def _signer():  # -> c2pa.Signer
    import c2pa

    pem = _credentials()
    key_end = pem.index(b"-----END PRIVATE KEY-----") + len(b"-----END PRIVATE KEY-----\n")
    key, chain = pem[:key_end], pem[key_end:]
    info = c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, chain, key, None)
    return c2pa.Signer.from_info(info)


def _credentials() -> bytes:
    """The signing key and certificate chain (PEM), made on first use; one file, so never mismatched."""
    path = credentials_dir() / _KEY_FILE
    if path.is_file():
        return path.read_bytes()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    pem = _make_credentials()
    _atomic_write(path, pem, mode=0o600)
    return path.read_bytes()  # another process may have won the race: use what is on disk


def _make_credentials() -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)

    def name(common_name: str) -> x509.Name:
        return x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "cineflow (local, self-issued)"),
            ]
        )

    def usage(**on: bool) -> x509.KeyUsage:
        flags = (
            "digital_signature",
            "content_commitment",
            "key_encipherment",
            "data_encipherment",
            "key_agreement",
            "key_cert_sign",
            "crl_sign",
            "encipher_only",
            "decipher_only",
        )
        return x509.KeyUsage(**{f: on.get(f, False) for f in flags})

    def builder(subject: str, issuer: x509.Name, public_key) -> x509.CertificateBuilder:
        return (
            x509.CertificateBuilder()
            .subject_name(name(subject))
            .issuer_name(issuer)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=3650))
        )

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        builder("cineflow local CA", name("cineflow local CA"), ca_key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(usage(key_cert_sign=True, crl_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        builder("cineflow local signer", ca.subject, key.public_key())
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage(digital_signature=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    pem = serialization.Encoding.PEM
    return key_pem + cert.public_bytes(pem) + ca.public_bytes(pem)


def _atomic_write(path: Path, data: bytes, mode: int = 0o644) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _version() -> str:
    from cineflow import __version__

    return __version__
