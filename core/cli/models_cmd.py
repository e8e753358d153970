"""``lectern models ...``: list, search, pull, import."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from core.cli.output import human_size, open_engine, print_json


def register(sub: Any) -> None:
    p = sub.add_parser("models", help="list, search, download and import models")
    msub = p.add_subparsers(dest="models_command", metavar="<action>", required=True)
    ls = msub.add_parser("list", help="installed models")
    ls.add_argument("--json", action="store_true", help="print JSON")
    ls.set_defaults(func=cmd_list)


def cmd_list(args: argparse.Namespace) -> int:
    engine = open_engine(args)
    engine.ensure_starter_models_sync()
    models = asyncio.run(engine.list_models())
    if args.json:
        print_json([m.to_json() for m in models])
        return 0
    for m in models:
        print(
            f"{m.id:48} {m.quantization:8} {human_size(m.size_bytes):>9}  {m.architecture}"
            f"  [{m.source}]"
        )
    return 0
