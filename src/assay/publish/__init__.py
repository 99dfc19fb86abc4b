"""The publisher side of npm: package manifests, the publish document, provenance, the PUT.

``assay publish`` is ``npm publish`` in Python: :mod:`.manifest` prepares package.json as npm
does, :mod:`.body` builds libnpmpublish's document, :mod:`.provenance` signs npm's statement
keylessly, and :mod:`.client` talks to the registry with npm's checks and wording.
"""

from assay.publish.body import Package, PublishError, load_package, publish_body
from assay.publish.client import RegistryClient
from assay.publish.provenance import ensure_provenance_environment, generate_provenance

__all__ = [
    "Package",
    "PublishError",
    "RegistryClient",
    "ensure_provenance_environment",
    "generate_provenance",
    "load_package",
    "publish_body",
]
