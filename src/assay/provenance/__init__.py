"""The provenance core: pure data types and functions, no I/O.

in-toto statements, SLSA provenance and the npm publish predicate, DSSE envelopes, Sigstore
bundles, npm subjects and CI provenance builders.
"""

from assay.provenance.bundle import Bundle
from assay.provenance.dsse import Envelope

__all__ = [
    "Bundle",
    "Envelope",
]
