"""`cineflow verify FILE`: is this file ours, and intact? (C2PA manifest + invisible watermark)."""

from __future__ import annotations

import argparse
import json

EXIT_NOT_OURS = 1


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "verify",
        help="check a file's provenance: signed C2PA manifest and invisible watermark",
        description="Exit 0 when FILE carries a valid cineflow manifest and the watermark; 1 otherwise.",
    )
    p.add_argument("file", metavar="FILE", help="a video or image written by cineflow")
    p.add_argument("--json", action="store_true", help="print the full report as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cineflow.provenance import verify

    report = verify(args.file)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
        return 0 if report.ok else EXIT_NOT_OURS
    m, w = report.manifest, report.watermark
    if not m.found:
        manifest = "absent" + (f" ({m.error})" if m.error else "")
    elif m.valid:
        trust = (
            "signer untrusted offline, as expected for the local certificate"
            if m.state == "Valid"
            else m.state
        )
        manifest = f"valid ({trust}); signed by {m.signer}"
    else:
        manifest = f"INVALID: {', '.join(m.failures) or m.error or m.state}"
    print(f"file:      {report.path}")
    print(f"manifest:  {manifest}{' [sidecar]' if m.detached else ''}")
    if m.generation:
        keys = ("model", "seed", "prompt_sha256", "weights_sha256", "config_sha256", "created")
        for key in keys:
            if key in m.generation:
                print(f"  {key}: {m.generation[key]}")
    if w is None:
        print(f"watermark: unreadable ({report.error})")
    else:
        print(f"watermark: {'present' if w.present else 'absent'} (z = {w.z:.1f}, threshold {w.threshold:g})")
    print(f"verdict:   {'OK: made by cineflow, intact' if report.ok else 'NOT VERIFIED'}")
    return 0 if report.ok else EXIT_NOT_OURS
