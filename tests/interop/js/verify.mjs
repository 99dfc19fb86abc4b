// Verify a Sigstore bundle with sigstore-js (@sigstore/verify), against a trusted root file.
//
// usage: node verify.mjs TRUSTED_ROOT BUNDLE ARTIFACT [SAN ISSUER]
// ARTIFACT is the signed file for a message-signature bundle, or "-" for a DSSE bundle.
// Prints one JSON line {"ok": true, ...} or {"ok": false, "error": "..."}; exit 0 / 1.
import { readFileSync } from 'node:fs';
import { bundleFromJSON } from '@sigstore/bundle';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { Verifier, toSignedEntity, toTrustMaterial } from '@sigstore/verify';

const [trustedRootPath, bundlePath, artifactPath, san, issuer] = process.argv.slice(2);
try {
  const trustedRoot = TrustedRoot.fromJSON(JSON.parse(readFileSync(trustedRootPath, 'utf8')));
  const bundle = bundleFromJSON(JSON.parse(readFileSync(bundlePath, 'utf8')));
  const artifact = artifactPath && artifactPath !== '-' ? readFileSync(artifactPath) : undefined;
  const verifier = new Verifier(toTrustMaterial(trustedRoot), { tlogThreshold: 1, ctlogThreshold: 1 });
  const policy = san ? { subjectAlternativeName: san, extensions: { issuer } } : {};
  const signer = verifier.verify(toSignedEntity(bundle, artifact), policy);
  console.log(JSON.stringify({ ok: true, san: signer.identity?.subjectAlternativeName, issuer: signer.identity?.extensions?.issuer }));
} catch (error) {
  console.log(JSON.stringify({ ok: false, error: `${error.code ?? error.name}: ${error.message}` }));
  process.exit(1);
}
