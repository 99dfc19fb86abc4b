"""The mirror's manifest check against the real npm registry: what it would refuse, and its cost.

The mirror serves an upstream version only if its tarball backs the manifest the upstream's
packument states (docs/mirror.md, "Manifests"; :func:`assay.mirror.manifests.check_tarball`).
A rule that refuses what real publishers sent would make the mirror unusable, so this sweep runs
the mirror's own check on real packages: for each name, the full packument from
registry.npmjs.org and up to ``--per-package`` of its versions spread over its history (oldest
to newest, the latest always included), each tarball downloaded and checked exactly as the
mirror checks it on ingest. It prints every refusal with its reason, the count per reason, and
the check's time per tarball (median and p95, CPU of this process only, download excluded).

    .venv/bin/python bench/mirror_manifests.py [--per-package 8] [--names a,b,c]

It needs the npm registry (https://registry.npmjs.org) and downloads a few hundred tarballs.
It is a pass/fail sweep with no peer: exit status 1 if any refusal is not an unreadable archive
(one the registry would also refuse to publish: links, trailing data, ambiguous paths).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from assay.mirror.manifests import check_tarball
from assay.npm.tarball import TarballLimits

REGISTRY = "https://registry.npmjs.org"
UNREADABLE = "the tarball cannot be read safely"
# Popular packages, old and new, with and without install scripts, native builds, bins,
# bundled dependencies and custom packers (as of 2026).
NAMES = (
    "lodash,react,react-dom,express,chalk,debug,commander,semver,uuid,axios,typescript,esbuild,"
    "@babel/core,webpack,left-pad,request,moment,underscore,async,minimist,glob,rimraf,mkdirp,"
    "yargs,colors,node-sass,fsevents,bcrypt,sharp,@types/node,eslint,prettier,jest,mocha,"
    "core-js,tslib,rxjs,vue,@angular/core,next,sqlite3,canvas,puppeteer,electron,npm,pnpm,yarn,"
    "coffee-script,grunt,gulp,browserify,uglify-js,jquery,ws,socket.io,body-parser,cookie,qs,"
    "inherits,@aws-sdk/client-s3,vite,rollup,postcss,tailwindcss,mongoose,pg,redis,dotenv,"
    "nodemon,ts-node,zod,date-fns,dayjs,classnames,prop-types,graphql,lerna,turbo,@swc/core,"
    "node-gyp,nan,bindings,@mapbox/node-pre-gyp,protobufjs,@grpc/grpc-js,firebase,aws-sdk,"
    "stripe,nodemailer,passport,jsonwebtoken,bcryptjs,better-sqlite3,re2,phantomjs-prebuilt,"
    "husky,@sigstore/verify,sigstore,pacote"
)


def spread(versions: list[str], count: int) -> list[str]:
    """Up to `count` versions evenly over the list (publish order), the newest included."""
    if len(versions) <= count:
        return versions
    step = len(versions) / (count - 1)
    picked = [versions[int(i * step)] for i in range(count - 1)]
    return [*dict.fromkeys([*picked, versions[-1]])]


def sweep_package(
    client: httpx.Client, name: str, per_package: int
) -> list[tuple[str, str | None, float]]:
    """(version, refusal reason or None, seconds of CPU the check took) per version checked."""
    document: dict[str, Any] = client.get(f"{REGISTRY}/{quote(name, safe='@')}").json()
    results = []
    for version in spread(list(document.get("versions", {})), per_package):
        manifest = document["versions"][version]
        data = client.get(manifest["dist"]["tarball"]).content
        began = time.thread_time()
        reason = check_tarball(manifest, data, TarballLimits())
        results.append((version, reason, time.thread_time() - began))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--per-package", type=int, default=8)
    parser.add_argument("--names", default=NAMES, help="comma-separated package names")
    parser.add_argument("--threads", type=int, default=8, help="downloads in parallel")
    args = parser.parse_args()
    names = [n for n in args.names.split(",") if n]
    reasons: Counter[str] = Counter()
    timings: list[float] = []
    unexpected = 0
    with (
        httpx.Client(timeout=60, follow_redirects=True) as client,
        ThreadPoolExecutor(args.threads) as pool,
    ):
        swept = pool.map(lambda n: (n, sweep_package(client, n, args.per_package)), names)
        for name, results in swept:
            for version, reason, seconds in results:
                timings.append(seconds)
                if reason is None:
                    continue
                kind = reason.split(":", 1)[0]
                reasons[kind] += 1
                unexpected += not reason.startswith(UNREADABLE)
                print(f"refused {name}@{version}: {reason}", flush=True)
    timings.sort()
    print(
        f"{len(timings)} versions of {len(names)} packages checked; {sum(reasons.values())} refused"
    )
    for kind, count in reasons.most_common():
        print(f"  {count:>4}  {kind}")
    if timings:
        p95 = timings[min(len(timings) - 1, int(len(timings) * 0.95))]
        print(
            f"check per tarball (CPU, download excluded): median"
            f" {statistics.median(timings) * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms"
        )
    if unexpected:
        print(f"FAILED: {unexpected} refusal(s) of a readable archive (manifest confusion?)")
    return 1 if unexpected else 0


if __name__ == "__main__":
    sys.exit(main())
