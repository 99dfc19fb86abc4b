"""``assay audit signatures``: npm's audit of an installed tree, plus a provenance policy.

* :mod:`assay.audit.tree` reads what is installed (hidden lockfile, lockfile or node_modules);
* :mod:`assay.audit.fetch` fetches packuments, attestations and trust material concurrently
  (or from a saved response cache, offline);
* :mod:`assay.audit.policy` reads the TOML policy file (docs/policy.md);
* :mod:`assay.audit.verify` verifies each package as pacote does and applies the policy;
* :mod:`assay.audit.report` renders npm's human text and JSON shape, plus our policy section.
"""

from __future__ import annotations
