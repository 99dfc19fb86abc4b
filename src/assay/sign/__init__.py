"""Keyless signing: identity token → ephemeral key → certificate → DSSE → log entry → bundle.

This is what ``npm publish --provenance`` does through @sigstore/sign (npm-registry.md §1.4–1.6),
done against whichever CA and log a signing config names (sigstore.md §5.2):

1. An OIDC identity token (audience ``sigstore``) from the CI job: GitHub's ambient credential
   (``GET $ACTIONS_ID_TOKEN_REQUEST_URL&audience=sigstore`` → ``{"value": …}``) or
   ``SIGSTORE_ID_TOKEN`` (:mod:`.identity`, @sigstore/sign ``identity/ci.js``).
2. A fresh P-256 key that lives only in this process (never written, never logged).
3. ``POST <ca>/api/v2/signingCert`` in sigstore-js's ``publicKeyRequest`` shape: the PEM public
   key and a proof of possession, the key's signature over the token's ``email`` (when the
   issuer verified it) or ``sub`` (@sigstore/sign ``util/oidc.js``, sigstore.md §1.1). The leaf
   certificate is the first of the returned chain (:mod:`.clients`).
4. The DSSE envelope over the statement, signed with the same key (PAE, ECDSA-SHA256).
5. A ``dsse`` 0.0.1 proposed entry for the log: the envelope as a JSON string and the base64 of
   the leaf's PEM as verifier (sigstore.md §3.2), appended through a :class:`.log.LogWriter` —
   ``POST <tlog>/api/v1/log/entries`` (:class:`.clients.HttpLog`), or a direct call when the log
   runs in the same process (:class:`.log.InProcessLog`, the all-in-one instance's registry).
6. A v0.3 bundle (``certificate`` = the leaf DER) whose tlog entry is converted from the v1
   response as both reference clients convert it (sigstore.md §4): hex ``logID``, ``rootHash``
   and ``hashes`` to bytes, ``body`` kept as ``canonicalizedBody``, kind and version read from
   the body, the SET as ``inclusionPromise`` and the proof with its checkpoint (:mod:`.signer`).

We check what is ours to check and leave verification to :mod:`assay.verify`: the certificate
must certify our key, and the log must have logged what we sent (the body's payload hash,
signature and verifier; the envelope hash). Chains, SCTs, SETs and inclusion proofs are the
verifier's job; a bundle is verified by whoever relies on it (the registry, before it stores it).

Modules: :mod:`.config` (signing config / client trust config), :mod:`.identity` (identity
tokens), :mod:`.http` (requests and error bodies), :mod:`.clients` (the CA and log over HTTP),
:mod:`.log` (the log-writer seam), :mod:`.signer` (keys, envelopes, bundles), :mod:`.errors`.
"""
