"""The transparency log service: C2SP tlog-tiles (``tiles``), the sequencer, the service object
and the Rekor v1 / tiles HTTP API (``app``). The pure math it shares with the verifier —
Merkle proofs, checkpoints, entry bodies — lives in :mod:`assay.transparency`.
"""
