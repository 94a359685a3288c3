#!/usr/bin/env python3
"""Writes seeded, synthetic OSV dumps shaped like the real ones, one `<Ecosystem>/all.zip` per
default source of the manager (`DEFAULT_OSV_ECOSYSTEMS`), for scale tests and benchmarks.

Usage: scripts/gen-osv.py OUT_DIR [--seed N] [--scale F] [--only Debian,Ubuntu]

The same seed and scale give byte-identical zips. Records follow the OSV schema as the index
reads it (id, modified, aliases/upstream, severity, affected[].package/ranges/versions,
ecosystem_specific / database_specific) with ecosystem strings and version syntaxes of each
distribution, so the index stores every affected entry.

Modelled figures (orders of magnitude, not exact counts). Sources: the issue's measurement of a
Debian-shaped dump (60,000 records, a 30 MB zip); the zip sizes seen in osv-scanner#2014's log
(AlmaLinux 3.7 MiB, Alpine 11.8 MiB); osv.dev's
per-ecosystem listings as recalled for 2025 (approximate, not fetched)
and the known shape of each producer: Ubuntu's and Debian's records enumerate affected versions
per release, kernel CVEs list dozens of `linux-*` source packages per release, Red Hat's and
SUSE's advisories list every binary package of every product stream.

| ecosystem   | records | affected entries per record           | `versions` lists        |
|-------------|---------|---------------------------------------|-------------------------|
| Debian      | 60,000  | 1-3 (one per release); DSA/DLA 1-4    | 70 % of entries, ~12    |
| Ubuntu      | 50,000  | 2-8; kernel CVEs (20 %) 40-80         | 80 % of entries, ~10    |
| Alpine      | 15,000  | 2-8 (one per v3.x branch)             | none                    |
| AlmaLinux   | 4,500   | 4-20 binary RPMs                      | none                    |
| Rocky Linux | 4,000   | 4-20                                  | none                    |
| Red Hat     | 20,000  | 5-60 (streams x binaries)             | none                    |
| SUSE        | 45,000  | 5-50; kernel updates (5 %) 200-400    | none                    |
| openSUSE    | 8,000   | 3-30                                  | none                    |
| Azure Linux | 6,000   | 1-3                                   | none                    |
| Wolfi       | 3,000   | 1                                     | none                    |
| Chainguard  | 15,000  | 1                                     | none                    |

Aliases: 0-3 CVE IDs per advisory (DSA/USN/RHSA/SUSE-SU list many more for kernel updates:
up to 40); 1 in 50 records is withdrawn.
"""

import argparse
import json
import os
import random
import zipfile

# (name, records, id prefixes with weights, releases, affected (lo, hi), heavy (share, lo, hi),
#  versions (share, mean length), version style)
MODELS = [
    ("Debian", 60_000, [("DEBIAN-CVE-", 85), ("DSA-", 8), ("DLA-", 7)],
     ["Debian:11", "Debian:12", "Debian:13"], (1, 3), (0.0, 0, 0), (0.7, 12), "deb"),
    ("Ubuntu", 50_000, [("UBUNTU-CVE-", 88), ("USN-", 12)],
     ["Ubuntu:20.04:LTS", "Ubuntu:22.04:LTS", "Ubuntu:24.04:LTS", "Ubuntu:24.10",
      "Ubuntu:Pro:18.04:LTS", "Ubuntu:Pro:16.04:LTS"], (2, 8), (0.2, 40, 80), (0.8, 10), "ubuntu"),
    ("Alpine", 15_000, [("ALPINE-CVE-", 100)],
     [f"Alpine:v3.{n}" for n in range(14, 22)], (2, 8), (0.0, 0, 0), (0.0, 0), "apk"),
    ("AlmaLinux", 4_500, [("ALSA-", 80), ("ALBA-", 15), ("ALEA-", 5)],
     ["AlmaLinux:8", "AlmaLinux:9"], (4, 20), (0.0, 0, 0), (0.0, 0), "el"),
    ("Rocky Linux", 4_000, [("RLSA-", 95), ("RXSA-", 5)],
     ["Rocky Linux:8", "Rocky Linux:9"], (4, 20), (0.0, 0, 0), (0.0, 0), "el"),
    ("Red Hat", 20_000, [("RHSA-", 80), ("RHBA-", 15), ("RHEA-", 5)],
     ["Red Hat:enterprise_linux:8::appstream", "Red Hat:enterprise_linux:8::baseos",
      "Red Hat:enterprise_linux:9::appstream", "Red Hat:enterprise_linux:9::baseos"],
     (5, 60), (0.0, 0, 0), (0.0, 0), "el"),
    ("SUSE", 45_000, [("SUSE-SU-", 90), ("SUSE-RU-", 10)],
     ["SUSE:Linux Enterprise Server 15 SP5", "SUSE:Linux Enterprise Server 15 SP6",
      "SUSE:Linux Enterprise Micro 5.5", "SUSE:Linux Enterprise Server 12 SP5"],
     (5, 50), (0.05, 200, 400), (0.0, 0), "suse"),
    ("openSUSE", 8_000, [("openSUSE-SU-", 100)],
     ["openSUSE:Leap 15.5", "openSUSE:Leap 15.6", "openSUSE:Tumbleweed"], (3, 30), (0.0, 0, 0),
     (0.0, 0), "suse"),
    ("Azure Linux", 6_000, [("AZL-", 100)], ["Azure Linux:2", "Azure Linux:3"], (1, 3),
     (0.0, 0, 0), (0.0, 0), "azl"),
    ("Wolfi", 3_000, [("CGA-", 100)], ["Wolfi"], (1, 1), (0.0, 0, 0), (0.0, 0), "apk"),
    ("Chainguard", 15_000, [("CGA-", 100)], ["Chainguard"], (1, 1), (0.0, 0, 0), (0.0, 0),
     "apk"),
]

# Source package names drawn per ecosystem: real distributions have ~30,000 source packages,
# of which a few thousand carry advisories.
PACKAGE_POOL = 6_000
WITHDRAWN_EVERY = 50
SEVERITY_WORDS = ["low", "medium", "high", "critical", "unimportant", "not yet assigned"]


def version(rng, style, release_index):
    """A version string in the distribution's syntax."""
    upstream = f"{rng.randint(0, 9)}.{rng.randint(0, 30)}.{rng.randint(0, 40)}"
    if style == "deb":
        return f"{upstream}-{rng.randint(1, 9)}+deb{11 + release_index}u{rng.randint(1, 9)}"
    if style == "ubuntu":
        return f"{upstream}-{rng.randint(1, 9)}ubuntu0.{20 + 2 * release_index}.04.{rng.randint(1, 9)}"
    if style == "apk":
        return f"{upstream}-r{rng.randint(0, 20)}"
    if style == "el":
        return f"{rng.randint(0, 2)}:{upstream}-{rng.randint(1, 90)}.el{8 + release_index % 2}_{rng.randint(0, 9)}"
    if style == "suse":
        return f"{upstream}-150{rng.randint(100, 600)}.{rng.randint(1, 9)}.{rng.randint(1, 30)}.1"
    return f"{upstream}-{rng.randint(1, 20)}.azl{2 + release_index % 2}"


def cve(rng):
    return f"CVE-{rng.randint(2005, 2025)}-{rng.randint(1000, 59999)}"


def record(rng, model, n):
    name, _, prefixes, releases, (lo, hi), (heavy_share, heavy_lo, heavy_hi), (v_share, v_len), style = model
    prefix = rng.choices([p for p, _ in prefixes], [w for _, w in prefixes])[0]
    own_cve = cve(rng)
    rid = f"{prefix}{own_cve[4:]}" if prefix.endswith("CVE-") else f"{prefix}{2000 + n // 1000}:{n % 100000:05d}"
    rid = f"{rid}-{n}" if not prefix.endswith("CVE-") else f"{rid}.{n}"
    heavy = rng.random() < heavy_share
    count = rng.randint(heavy_lo, heavy_hi) if heavy else rng.randint(lo, hi)
    package = f"pkg{rng.randrange(PACKAGE_POOL)}"
    affected = []
    for i in range(count):
        release_index = rng.randrange(len(releases))
        binary = package if i < len(releases) or heavy else f"{package}-sub{i}"
        if heavy:
            binary = f"linux-flavour{i}"
        introduced = "0" if rng.random() < 0.7 else version(rng, style, release_index)
        events = [{"introduced": introduced}]
        if rng.random() < 0.85:
            events.append({"fixed": version(rng, style, release_index)})
        entry = {
            "package": {"ecosystem": releases[release_index], "name": binary,
                        "purl": f"pkg:generic/{binary}"},
            "ranges": [{"type": "ECOSYSTEM", "events": events}],
        }
        if rng.random() < v_share:
            entry["versions"] = [version(rng, style, release_index)
                                 for _ in range(max(1, int(rng.expovariate(1 / v_len))))]
        if style in ("deb", "ubuntu"):
            entry["ecosystem_specific"] = {"urgency": rng.choice(SEVERITY_WORDS)}
        else:
            entry["database_specific"] = {"severity": rng.choice(["Low", "Moderate", "Important", "Critical"])}
        affected.append(entry)
    aliases = [cve(rng) for _ in range(rng.randint(0, 40 if heavy else 3))]
    body = {
        "schema_version": "1.6.0",
        "id": rid,
        "modified": f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T00:00:00Z",
        "published": f"20{rng.randint(10, 24)}-01-01T00:00:00Z",
        "summary": f"{package}: synthetic advisory {n} for scale tests",
        "details": "x" * rng.randint(80, 600),
        "aliases": aliases if not prefix.endswith("CVE-") else [],
        "upstream": [own_cve] if prefix.endswith("CVE-") else aliases[:1],
        "severity": [{"type": "CVSS_V3",
                      "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}] if rng.random() < 0.5 else [],
        "affected": affected,
        "references": [{"type": "WEB", "url": f"https://example.invalid/{rid}"}],
    }
    if n % WITHDRAWN_EVERY == 0:
        body["withdrawn"] = "2025-06-01T00:00:00Z"
    return rid, body


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out")
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the modelled record counts")
    parser.add_argument("--only", default="", help="comma-separated ecosystems (default: all)")
    args = parser.parse_args()
    only = {e for e in args.only.split(",") if e}
    for model in MODELS:
        name = model[0]
        if only and name not in only:
            continue
        # One stream per ecosystem: the same seed gives the same dump whatever --only says.
        rng = random.Random(f"{args.seed}/{name}")
        directory = os.path.join(args.out, name)
        os.makedirs(directory, exist_ok=True)
        path = os.path.join(directory, "all.zip")
        count = max(1, int(model[1] * args.scale))
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dump:
            for n in range(count):
                rid, body = record(rng, model, n)
                info = zipfile.ZipInfo(f"{rid}.json", date_time=(2025, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                dump.writestr(info, json.dumps(body, separators=(",", ":")))
        print(f"{name}: {count} records, {os.path.getsize(path) / 1048576:.1f} MiB", flush=True)


if __name__ == "__main__":
    main()
