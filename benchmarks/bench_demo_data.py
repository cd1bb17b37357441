"""Benchmark ``xsell demo-data``: wall seconds and peak RSS of generating one scale.

    python benchmarks/bench_demo_data.py --scale medium [--out DIR] [--seed 42]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from xsell.demo.generate import write_demo_data  # noqa: E402


def main(scale: str, out: Path, seed: int = 42) -> dict:
    """Generate ``scale`` into ``out``; return seconds, peak RSS (MiB), lines and bytes written."""
    t0 = time.perf_counter()
    summary = write_demo_data(out, scale=scale, seed=seed)
    seconds = time.perf_counter() - t0
    result = {
        "scale": scale,
        "seconds": round(seconds, 2),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1),
        "lines": summary["lines_written"],
        "lines_per_second": round(summary["lines_written"] / seconds),
        "variants": summary["variants"],
        "buying_centers": summary["buying_centers"],
        "bytes_written": sum(p.stat().st_size for p in out.rglob("*") if p.is_file()),
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="small", choices=["tiny", "small", "medium", "large"])
    parser.add_argument("--out", type=Path, help="output folder (default: a temporary folder, removed afterwards)")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    if args.out:
        main(args.scale, args.out, args.seed)
    else:
        tmp = Path(tempfile.mkdtemp(prefix=f"xsell-demo-{args.scale}-"))
        try:
            main(args.scale, tmp, args.seed)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
