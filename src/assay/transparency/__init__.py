"""Pure transparency-log math, shared by the log service (:mod:`assay.tlog`), the CA
(:mod:`assay.ca`) and the verifier (:mod:`assay.verify`).

* :mod:`assay.transparency.merkle` — RFC 6962/9162 Merkle tree hashing, proofs and their checks.
* :mod:`assay.transparency.checkpoint` — C2SP signed notes and tlog-checkpoint bodies.
* :mod:`assay.transparency.sct` — RFC 6962 signed certificate timestamps: the signed struct and
  the verification of an embedded SCT (issuing is the CA's).
* :mod:`assay.transparency.rekor` — Rekor v1 entry bodies (``hashedrekord``, ``dsse``,
  ``intoto``), their canonical form, UUID and the Signed Entry Timestamp payload.

No I/O and no service imports (DESIGN.md "Dependency direction"): only the standard library,
``cryptography``, ``rfc8785``, :mod:`assay.provenance`, :mod:`assay.errors` and :mod:`assay.keys`.
"""
