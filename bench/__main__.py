"""Run every benchmark module in ``bench/`` and print one JSON document.

Each benchmark is a module ``bench/bench_*.py`` with a ``run() -> dict``
function. ``python -m bench NAME`` runs only ``bench_NAME``. Results are
also written to ``bench/results/<name>.json``.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent


def main(argv: list[str]) -> int:
    names = sorted(m.name for m in pkgutil.iter_modules([str(HERE)]) if m.name.startswith("bench_"))
    wanted = [f"bench_{a}" if not a.startswith("bench_") else a for a in argv]
    if wanted:
        unknown = set(wanted) - set(names)
        if unknown:
            print(
                f"unknown benchmark(s): {', '.join(sorted(unknown))}; have {names}", file=sys.stderr
            )
            return 2
        names = wanted
    results: dict[str, object] = {}
    out_dir = HERE / "results"
    out_dir.mkdir(exist_ok=True)
    for name in names:
        print(f"bench: running {name}…", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        module = importlib.import_module(f"bench.{name}")
        result = module.run()
        result["wall_s"] = round(time.perf_counter() - t0, 2)
        results[name.removeprefix("bench_")] = result
        (out_dir / f"{name.removeprefix('bench_')}.json").write_text(json.dumps(result, indent=2))
    json.dump(results, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
