"""Compiling profiles: classic against loading its YAML, and growth with profile length."""

from __future__ import annotations

import gc
import statistics
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

from run import Row

from massager import api, bundled, yamlio

CYCLE: list[dict[str, Any]] = [
    {"technique": "rub", "duration": "3s", "zones": ["heel"]},
    {"technique": "heel_press", "duration": "2s", "presses": 1},
    {"technique": "vibrate", "duration": "2s", "zones": ["arch"]},
    {"technique": "point_press", "duration": "3s", "zones": ["ball", "arch"]},
    {"technique": "rest", "duration": "1s"},
]


def generated(steps: int) -> dict[str, Any]:
    """A profile of `steps` short steps cycling through five techniques."""
    return {"name": f"generated-{steps}", "steps": [CYCLE[i % len(CYCLE)] for i in range(steps)]}


def median_ms(work: Callable[[], object], repeats: int) -> float:
    """Median wall time of `work` in milliseconds."""
    times = []
    for _ in range(repeats):
        gc.collect()
        started = time.perf_counter()
        work()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def peak_mb(work: Callable[[], object]) -> float:
    """Peak Python memory allocated while `work` runs, in MB (tracemalloc)."""
    gc.collect()
    tracemalloc.start()
    work()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 1e6


def run(quick: bool) -> list[Row]:
    """Measure; `quick` uses fewer repeats and stops at 10,000 steps."""
    rows: list[Row] = []
    rig = api.load_rig("reference")
    path = bundled.find("profiles", "classic")
    assert path is not None
    classic = api.load_profile("classic")
    repeats = 5 if quick else 21
    load = median_ms(lambda: yamlio.load(path), repeats)
    full_load = median_ms(lambda: api.load_profile("classic"), repeats)
    compile_ms = median_ms(lambda: api.compile_stream(classic, rig), repeats)
    rows.append(Row("load classic (YAML + validation)", full_load, "ms", "load its YAML", load))
    rows.append(Row("compile classic for reference", compile_ms, "ms", "load its YAML", load))

    sizes = (1_000, 10_000) if quick else (1_000, 10_000, 100_000)
    base_time = base_mem = 0.0
    for size in sizes:
        profile = api.profile_from_data(generated(size))

        def compile_it(p: Any = profile) -> object:
            return api.compile_stream(p, rig, session_cap_ms=10**12)

        took = median_ms(compile_it, 1 if size >= 100_000 else 3)
        memory = peak_mb(compile_it)
        per_step_us = took * 1000 / size
        if size == sizes[0]:
            base_time, base_mem = per_step_us, memory / size
        rows.append(
            Row(
                f"compile {size:,} steps: time per step ({took / 1000:.2f} s in all)",
                per_step_us,
                "us",
                f"per step at {sizes[0]:,} steps",
                base_time,
                "ratio ~1 = linear",
            )
        )
        rows.append(
            Row(
                f"compile {size:,} steps: peak memory",
                memory,
                "MB",
                f"{sizes[0]:,}-step peak x {size // sizes[0]:,}",
                base_mem * size,
                "ratio ~1 = linear",
            )
        )
    return rows
