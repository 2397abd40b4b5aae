"""``photoscribe doctor``: what this install can do and what to fix (the checks are :mod:`photoscribe.core.doctor`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from photoscribe.core.choices import PRECISIONS
from photoscribe.desktop.cli.io import dumps_json, path_arg

_MARKS = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL"}


def register(subparsers: argparse._SubParsersAction) -> None:
    doctor = subparsers.add_parser(
        "doctor",
        help="check this install: torch build, device, weights, model, library, disk, folder watching",
        description="Check what this install can do and say what to fix. Exit code 0 when everything "
        "needed works (warnings allowed), 1 when a check failed.",
    )
    doctor.add_argument("--json", action="store_true", help="print the checks as JSON")
    doctor.add_argument(
        "--db", type=path_arg, metavar="PATH", help="library database file (default: the usual one)"
    )
    doctor.add_argument(
        "--model", type=path_arg, metavar="CKPT", help="check this model instead of the active one"
    )
    doctor.add_argument("--device", default="auto", help="device to check (auto, cpu, cuda, cuda:N, mps)")
    doctor.add_argument("--precision", choices=PRECISIONS, default="auto", help="encoder precision to check")
    doctor.set_defaults(func=cmd_doctor)


def cmd_doctor(args: argparse.Namespace) -> int:
    from photoscribe.core import doctor
    from photoscribe.core.paths import default_library_path

    library: Path = args.db or default_library_path()
    checks = doctor.run_checks(library, model=args.model, device=args.device, precision=args.precision)
    ok = doctor.healthy(checks)
    if args.json:
        print(dumps_json({"ok": ok, "checks": [check.as_dict() for check in checks]}, indent=2))
        return 0 if ok else 1
    width = max(len(check.name) for check in checks)
    for check in checks:
        print(f"{_MARKS.get(check.status, check.status)}  {check.name:<{width}}  {check.message}")
        if check.fix:
            print(f"      {'':<{width}}  fix: {check.fix}")
    failed = sum(check.status == "fail" for check in checks)
    warned = sum(check.status == "warn" for check in checks)
    if ok:
        warnings = f" ({warned} warning{'s' if warned != 1 else ''})" if warned else ""
        print(f"\neverything needed works{warnings}")
    else:
        print(f"\n{failed} check{'s' if failed != 1 else ''} failed: see the fixes above")
    return 0 if ok else 1
