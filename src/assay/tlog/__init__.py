"""The transparency log's pure core: RFC 6962/9162 Merkle trees and proofs (``merkle``), signed
checkpoints (``checkpoint``), C2SP tlog-tiles (``tiles``) and Rekor v1 entries (``entries``).
"""
