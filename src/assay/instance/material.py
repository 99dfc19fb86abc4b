"""An initialized data directory, loaded: its keys, its CA chain and what `init` decided."""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from assay.errors import ConfigError
from assay.instance.layout import DataDir, InstanceInfo
from assay.keys import PrivateKey, load_private_key


@dataclass(frozen=True, slots=True)
class InstanceMaterial:
    data_dir: DataDir
    info: InstanceInfo
    ca_root: x509.Certificate
    ca_intermediate: x509.Certificate
    ca_intermediate_key: PrivateKey
    ct_key: ec.EllipticCurvePrivateKey
    tlog_key: ec.EllipticCurvePrivateKey
    oidc_key: ec.EllipticCurvePrivateKey
    registry_key: ec.EllipticCurvePrivateKey
    tsa_key: ec.EllipticCurvePrivateKey
    tsa_chain: tuple[x509.Certificate, x509.Certificate]
    """The timestamp authority's signing certificate and its root (leaf first)."""

    @classmethod
    def load(cls, data_dir: DataDir) -> InstanceMaterial:
        info = InstanceInfo.load(data_dir)
        try:
            root = x509.load_pem_x509_certificate(data_dir.ca_root_cert.read_bytes())
            intermediate = x509.load_pem_x509_certificate(
                data_dir.ca_intermediate_cert.read_bytes()
            )
            tsa_leaf = x509.load_pem_x509_certificate(data_dir.tsa_cert.read_bytes())
            tsa_root = x509.load_pem_x509_certificate(data_dir.tsa_root_cert.read_bytes())
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"cannot load the CA or TSA certificates in {data_dir.root}: {exc}"
            ) from exc
        return cls(
            data_dir=data_dir,
            info=info,
            ca_root=root,
            ca_intermediate=intermediate,
            ca_intermediate_key=load_private_key(data_dir.ca_intermediate_key),
            ct_key=_ec(data_dir.ct_key.name, load_private_key(data_dir.ct_key)),
            tlog_key=_ec(data_dir.tlog_key.name, load_private_key(data_dir.tlog_key)),
            oidc_key=_ec(data_dir.oidc_key.name, load_private_key(data_dir.oidc_key)),
            registry_key=_ec(data_dir.registry_key.name, load_private_key(data_dir.registry_key)),
            tsa_key=_ec(data_dir.tsa_key.name, load_private_key(data_dir.tsa_key)),
            tsa_chain=(tsa_leaf, tsa_root),
        )


def _ec(name: str, key: PrivateKey) -> ec.EllipticCurvePrivateKey:
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ConfigError(f"{name} must be an ECDSA key")
    return key
