"""Run every benchmark in bench/ and write the table in docs/performance.md.

Usage: python bench/run.py [--quick] [--only NAME]

A full run rewrites the generated part of docs/performance.md; `--only NAME`
rewrites that benchmark's section alone; `--quick` prints and writes nothing.

Each bench/bench_*.py module has `run(quick: bool) -> list[Row]`; a Row puts a
measure beside its baseline measured in the same run, so the table shows a
ratio, not just an absolute figure. CI does not run this; timings never fail a build.
"""

from __future__ import annotations

import argparse
import importlib.util
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
DOC = HERE.parent / "docs" / "performance.md"
BEGIN = "<!-- bench:begin -->"
END = "<!-- bench:end -->"


@dataclass
class Row:
    """One measured figure beside its same-run baseline."""

    measure: str
    value: float
    unit: str
    baseline: str = ""
    baseline_value: float | None = None
    target: str = ""

    @property
    def ratio(self) -> str:
        if not self.baseline_value:
            return ""
        return _ratio(self.value / self.baseline_value)


def _ratio(ratio: float) -> str:
    """`0.69x`, or `1/1561x` where the measure is a small fraction of its baseline."""
    if 0 < ratio < 0.1:
        return f"1/{1 / ratio:,.0f}x"
    return f"{ratio:.2f}x"


def _fmt(value: float | None) -> str:
    if value is None:
        return ""
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def _load(path: Path):  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


def _sections(block: str) -> list[str]:
    """The per-benchmark sections (each starting with '### ') of the generated block."""
    parts = block.split("\n### ")[1:]
    return ["### " + part.strip() for part in parts]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="smaller sizes, fewer repeats; the doc is not written"
    )
    parser.add_argument("--only", help="run only bench_NAME.py and replace only its section")
    args = parser.parse_args()
    sys.path.insert(0, str(HERE))
    sections: list[str] = []
    files = sorted(HERE.glob("bench_*.py"))
    if args.only:
        files = [f for f in files if f.stem == f"bench_{args.only}"]
    for path in files:
        module = _load(path)
        title = (module.__doc__ or path.stem).strip().splitlines()[0]
        print(f"== {path.name}: {title}", flush=True)
        started = time.monotonic()
        rows: list[Row] = module.run(args.quick)
        lines = [
            f"### {title} (`bench/{path.name}`)",
            "",
            "| measure | value | unit | baseline (same run) | baseline value | ratio | target |",
            "|---|---:|---|---|---:|---:|---|",
        ]
        for r in rows:
            lines.append(
                f"| {r.measure} | {_fmt(r.value)} | {r.unit} | {r.baseline} | "
                f"{_fmt(r.baseline_value)} | {r.ratio} | {r.target} |"
            )
            print(
                f"   {r.measure}: {_fmt(r.value)} {r.unit}"
                f"  (baseline {_fmt(r.baseline_value)}) {r.ratio}"
            )
        print(f"   ({time.monotonic() - started:.1f} s)")
        sections.append("\n".join(lines))
    if args.quick:
        print("(--quick: docs/performance.md left as it is)")
        return 0
    stamp = (
        f"Measured {time.strftime('%Y-%m-%d')} on {platform.machine()}, "
        f"{platform.python_implementation()} {platform.python_version()}, "
        "by `python bench/run.py`."
    )
    text = DOC.read_text() if DOC.exists() else f"# Performance\n\n{BEGIN}\n{END}\n"
    head, _, rest = text.partition(BEGIN)
    old, _, tail = rest.partition(END)
    if args.only:  # replace that benchmark's section, keep the others
        kept = [s for s in _sections(old) if f"(`bench/bench_{args.only}.py`)" not in s]
        names = [f"bench_{args.only}.py", *(s.split("`bench/")[1].split("`")[0] for s in kept)]
        by_name = dict(zip(names, sections + kept, strict=True))
        sections = [by_name[name] for name in sorted(by_name)]
    block = f"{BEGIN}\n{stamp}\n\n" + "\n\n".join(sections) + f"\n{END}"
    DOC.write_text(head + block + tail)
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
