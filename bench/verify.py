"""Benchmark: the verifier against sigstore-python, and a cold `assay verify attestations` against
a Node one-liner with sigstore-js. Prints two ratios; above 1 always means Assay did better.

1. **Bundles per second, in process.** One v0.3 DSSE bundle in today's npm shape (an in-toto
   statement with a SLSA v1 predicate, a single Fulcio ``certificate``, a Rekor ``dsse`` 0.0.1
   entry with inclusion proof, checkpoint and SET: ``fixtures/dsse-v3-public-good.sigstore.json``,
   see ``fixtures/README.md``) against the public-good trusted root, verified in full by
   :class:`assay.verify.Verifier` and by sigstore-python's ``Verifier.verify_dsse``, each with the
   same identity policy (SAN and issuer), each parsing the bundle from its JSON text every time.
   Trust material is loaded once per verifier. The two take turns in batches, ``--rounds`` times;
   the figures are medians of the batches' rates.

   It also times the signature checks every bundle needs whatever verifier runs them (the
   leaf's P-384 signature by the Fulcio intermediate; the P-256 SCT, SET, checkpoint and DSSE
   signatures), which bounds the ratio any verifier that checks each bundle's own signatures can
   reach against sigstore-python (bench/README.md).

2. **Cold start.** ``assay verify attestations --offline`` on one real npm attestations file
   (tests/fixtures/npm-real: a keyless provenance and the registry's publish attestation),
   against ``node -e`` with sigstore-js (@sigstore/verify, tests/interop/js) verifying both
   bundles of the same file with the same trusted root and registry keys; alternating, ``--runs``
   times each; medians of wall-clock time, and of CPU time (user + system, which a busy machine
   inflates less). Python's bytecode for ``src/`` is compiled first, as ``pip install`` leaves it.

    .venv/bin/python bench/verify.py [--rounds 15] [--batch 100] [--runs 15]

Needs ``npm ci`` in tests/interop/js for part 2 (run it if ``node_modules`` is missing).
"""

from __future__ import annotations

import argparse
import compileall
import logging
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from sigstore.models import Bundle as PyBundle
from sigstore.models import TrustedRoot as PyTrustedRoot
from sigstore.verify import Verifier as PyVerifier
from sigstore.verify.policy import Identity as PyIdentity

from assay.provenance.bundle import Bundle
from assay.verify import Identity, TrustedRoot, Verifier

ROOT = Path(__file__).resolve().parent.parent
BUNDLE = ROOT / "bench" / "fixtures" / "dsse-v3-public-good.sigstore.json"
PUBLIC_GOOD = ROOT / "tests" / "fixtures" / "npm-real" / "public-good" / "sigstore-js-main"
TRUSTED_ROOT = PUBLIC_GOOD / "targets" / "trusted_root.json"
NPM_KEYS = PUBLIC_GOOD / "targets" / "registry.npmjs.org%2Fkeys.json"
ATTESTATIONS = (
    ROOT / "tests" / "fixtures" / "npm-real" / "slsa-verifier" / "gundam-visor-cli-v1-tag.tgz.json"
)
PACKAGE = "gundam-visor@1.0.1"
INTEGRITY = (
    "sha512-jZ15cvZ2UWx1AUqgdOEa5gTZjwtk7Gclph4oOP89qxYhGPpxQz+zHhVQ0wvQ3snQhs4DK5RFe1g5AM"
    "UHrPOcQA=="
)
SAN = (
    "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/"
    "workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main"
)
ISSUER = "https://token.actions.githubusercontent.com"
JS_DIR = ROOT / "tests" / "interop" / "js"

# What pacote does for `npm audit signatures`, offline: every bundle of the response verified
# by @sigstore/verify against the trusted root, keyed ones with the registry key their hint names.
NODE_ONE_LINER = (
    "const fs=require('fs');"
    "const {bundleFromJSON}=require('@sigstore/bundle');"
    "const {TrustedRoot}=require('@sigstore/protobuf-specs');"
    "const {Verifier,toSignedEntity,toTrustMaterial}=require('@sigstore/verify');"
    "const [file,root,keysFile]=process.argv.slice(1);const keys={};"
    "for(const k of JSON.parse(fs.readFileSync(keysFile,'utf8')).keys)"
    "keys[k.keyId]={rawBytes:Buffer.from(k.publicKey.rawBytes,'base64'),"
    "validFor:{start:new Date(k.publicKey.validFor.start),end:new Date(k.publicKey.validFor.end)}};"
    "const trust=toTrustMaterial("
    "TrustedRoot.fromJSON(JSON.parse(fs.readFileSync(root,'utf8'))),keys);"
    "const v=new Verifier(trust,{tlogThreshold:1,ctlogThreshold:1});"
    "for(const a of JSON.parse(fs.readFileSync(file,'utf8')).attestations){"
    "v.verify(toSignedEntity(bundleFromJSON(a.bundle)));console.log('verified',a.predicateType)}"
)


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def median_rates(
    contenders: dict[str, Callable[[], object]], rounds: int, batch: int
) -> dict[str, tuple[float, float]]:
    """Each contender runs ``batch`` times per round, in turn: the medians of its rates by the
    wall clock and by this process's CPU time (which other work on the machine inflates less)."""
    for run in contenders.values():
        run()  # warm-up, and a check that it verifies
    walls: dict[str, list[float]] = {name: [] for name in contenders}
    cpus: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, run in contenders.items():
            wall, cpu = time.perf_counter(), time.process_time()
            for _ in range(batch):
                run()
            walls[name].append(batch / (time.perf_counter() - wall))
            cpus[name].append(batch / max(time.process_time() - cpu, 1e-9))
    return {
        name: (statistics.median(walls[name]), statistics.median(cpus[name])) for name in contenders
    }


def throughput(rounds: int, batch: int) -> float:
    text = BUNDLE.read_text(encoding="utf-8")
    ours = Verifier(TrustedRoot.from_file(TRUSTED_ROOT))
    theirs = PyVerifier(trusted_root=PyTrustedRoot.from_file(str(TRUSTED_ROOT)))
    policy, their_policy = Identity(SAN, ISSUER), PyIdentity(identity=SAN, issuer=ISSUER)

    # The signature checks every verifier must make on this bundle, and nothing else.
    result = ours.verify(Bundle.from_json(text), policy=policy)
    if result.signer is None:
        raise SystemExit(f"{BUNDLE.name} is not a keyless bundle")
    leaf = result.signer.certificate
    moment = result.verified_times[0]
    authority = next(
        ca for ca in ours.trusted_root.certificate_authorities if ca.valid_for.contains(moment)
    )
    issuer = next(c for c in authority.chain if c.subject == leaf.issuer)
    issuer_key = issuer.public_key()
    if not isinstance(issuer_key, ec.EllipticCurvePublicKey) or not isinstance(
        leaf.signature_hash_algorithm, hashes.SHA384
    ):
        raise SystemExit("expected the public-good P-384 intermediate and an ECDSA-SHA384 leaf")
    signer = ec.generate_private_key(ec.SECP256R1())
    signed = [(m, signer.sign(m, ec.ECDSA(hashes.SHA256()))) for m in (b"s" * 300, b"d" * 900)]
    p256 = [*signed, *signed]  # SCT, SET, checkpoint, DSSE: four P-256 verifications

    def floor() -> None:
        issuer_key.verify(leaf.signature, leaf.tbs_certificate_bytes, ec.ECDSA(hashes.SHA384()))
        for message, signature in p256:
            signer.public_key().verify(signature, message, ec.ECDSA(hashes.SHA256()))

    rates = median_rates(
        {
            "assay.verify": lambda: ours.verify(Bundle.from_json(text), policy=policy),
            "sigstore-python": lambda: theirs.verify_dsse(PyBundle.from_json(text), their_policy),
            "signatures alone": floor,
        },
        rounds,
        batch,
    )
    ratio = rates["assay.verify"][0] / rates["sigstore-python"][0]
    cpu_ratio = rates["assay.verify"][1] / rates["sigstore-python"][1]
    bound = rates["signatures alone"][1] / rates["sigstore-python"][1]
    print(f"1. one v0.3 DSSE bundle ({BUNDLE.name}), public-good root, in process")
    print(f"   integrated {datetime.fromtimestamp(result.log_entry.integrated_time, UTC):%Y-%m-%d}")
    print(f"   {'bundles per second (medians)':<40}{'by wall clock':>15}{'by CPU time':>13}")
    for name, (wall, cpu) in rates.items():
        label = name if name != "signatures alone" else "signatures alone (1 P-384 + 4 P-256)"
        print(f"   {label:<40}{wall:>15,.0f}{cpu:>13,.0f}")
    print(f"   RATIO assay.verify / sigstore-python: {ratio:.2f}x wall, {cpu_ratio:.2f}x CPU")
    print(f"   bound, the signatures alone / sigstore-python: {bound:.2f}x CPU (target 2x)")
    return ratio


def _run(command: list[str], cwd: Path) -> tuple[float, float]:
    """Wall-clock and CPU seconds of one run, which must succeed."""
    started = time.perf_counter()
    child = subprocess.Popen(
        command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    stderr = child.stderr.read() if child.stderr else ""
    if status != 0:
        raise SystemExit(f"{command[0]} failed ({status}): {stderr[-500:]}")
    return wall, usage.ru_utime + usage.ru_stime


def cold(runs: int) -> float:
    if not (JS_DIR / "node_modules" / "@sigstore" / "verify").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=JS_DIR, check=True)
    compileall.compile_dir(ROOT / "src" / "assay", quiet=1)
    assay = Path(sys.executable).parent / "assay"
    commands = {
        "assay verify attestations --offline": (
            [str(assay), "verify", "attestations", "--offline", "--package", PACKAGE,
             "--integrity", INTEGRITY, str(ATTESTATIONS)],
            ROOT,
        ),
        "node -e (sigstore-js @sigstore/verify)": (
            ["node", "-e", NODE_ONE_LINER, str(ATTESTATIONS), str(TRUSTED_ROOT), str(NPM_KEYS)],
            JS_DIR,
        ),
    }  # fmt: skip
    walls: dict[str, list[float]] = {name: [] for name in commands}
    cpus: dict[str, list[float]] = {name: [] for name in commands}
    for command, cwd in commands.values():
        _run(command, cwd)  # warm the page cache; not counted
    for _ in range(runs):
        for name, (command, cwd) in commands.items():
            wall, cpu = _run(command, cwd)
            walls[name].append(wall)
            cpus[name].append(cpu)
    ours_name, node_name = commands
    ours, node = statistics.median(walls[ours_name]), statistics.median(walls[node_name])
    print(f"2. cold start on {ATTESTATIONS.name} ({PACKAGE}: provenance + publish attestation)")
    print(f"   {'command':<40}{'wall s (median)':>17}{'cpu s (median)':>16}")
    for name in commands:
        wall, cpu = statistics.median(walls[name]), statistics.median(cpus[name])
        print(f"   {name:<40}{wall:>17.3f}{cpu:>16.3f}")
    print(f"   RATIO node / assay, wall: {node / ours:.2f}x  (target: assay <= 0.25 s)")
    cpu_ratio = statistics.median(cpus[node_name]) / statistics.median(cpus[ours_name])
    print(f"   ratio node / assay, cpu: {cpu_ratio:.2f}x")
    return ours


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=15, help="turns each verifier takes")
    parser.add_argument("--batch", type=int, default=100, help="verifications per turn")
    parser.add_argument("--runs", type=int, default=15, help="cold runs of each command")
    parser.add_argument("--skip-cold", action="store_true", help="only part 1")
    args = parser.parse_args(argv)
    logging.disable(logging.WARNING)  # sigstore-python logs per verification
    commit = subprocess.run(
        ["git", "describe", "--always", "--dirty"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    print(f"commit {commit}; load average {load_average()}; {os.cpu_count()} CPUs")
    throughput(args.rounds, args.batch)
    if not args.skip_cold:
        cold(args.runs)
    print(f"load average at the end {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
