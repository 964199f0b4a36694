"""Curve steps: a 10-minute curve of 10,000 keyframes, growth to 50,000, and plot memory.

50,000 keyframes is the largest curve that stays under the compiler's 100,000-command
limit (each keyframe of a two-roller curve becomes about two commands).

Compile times sit beside compiling classic in the same run; `massager plot classic`
peak RSS beside a process that only imports matplotlib.pyplot (the same launcher as
bench_run_memory)."""

from __future__ import annotations

import random
import tempfile
from pathlib import Path
from typing import Any

from bench_compile import median_ms
from bench_run_memory import peak_mb
from run import Row

from massager import api

SPACING_MS = 60
"""Keyframes 60 ms apart: 10,000 of them make 10 minutes."""
TARGET_S = 0.2
CAP_MS = 200 * 60_000  # long enough for the largest curve measured
SLEW = 3.0  # the reference rig's heel rollers (heel sensitivity 1.0: keyframe levels = levels)


def curve_profile(keyframes: int, seed: int = 1) -> dict[str, Any]:
    """A linear roller curve on both heels, `keyframes` 60 ms apart: a seeded random walk
    over -0.9..0.9 whose steps stay within 80 % of max_slew (what `massager import` writes)."""
    rng = random.Random(seed)
    step_max = 0.8 * SLEW * SPACING_MS / 1000
    level = 0.0
    frames = []
    for i in range(keyframes):
        frames.append({"at": f"{i * SPACING_MS}ms", "level": round(level, 3)})
        level = min(0.9, max(-0.9, level + rng.uniform(-step_max, step_max)))
    step = {
        "technique": "curve",
        "duration": f"{keyframes * SPACING_MS + 1000}ms",
        "zones": ["heel"],
        "interpolation": "linear",
        "keyframes": {"roller": frames},
    }
    return {"name": f"curve-{keyframes}", "steps": [step]}


def run(quick: bool) -> list[Row]:
    """Measure; `quick` uses fewer repeats and skips 50,000 keyframes."""
    rows: list[Row] = []
    rig = api.load_rig("reference")
    repeats = 3 if quick else 7
    classic = api.load_profile("classic")
    base = median_ms(lambda: api.compile_stream(classic, rig), repeats)
    sizes = (1_000, 10_000) if quick else (1_000, 10_000, 50_000)
    per_key: dict[int, float] = {}
    for n in sizes:
        profile = api.profile_from_data(curve_profile(n))

        def work(p: Any = profile) -> object:
            return api.compile_stream(p, rig, session_cap_ms=CAP_MS)

        ms = median_ms(work, repeats if n < 50_000 else 3)
        commands = len(api.compile_stream(profile, rig, session_cap_ms=CAP_MS).commands)
        per_key[n] = ms * 1000 / n
        if n == 10_000:
            rows.append(
                Row(
                    f"compile a 10-minute curve of 10,000 keyframes ({commands:,} commands, "
                    "2 heel rollers, reference)",
                    ms / 1000,
                    "s",
                    "compile classic (13 min, 8 steps)",
                    base / 1000,
                    target=f"< {TARGET_S} s",
                )
            )
        rows.append(
            Row(
                f"compile {n:,} keyframes ({n * SPACING_MS / 60000:g} min, {commands:,} commands): "
                f"time per keyframe ({ms / 1000:.2f} s in all)",
                per_key[n],
                "us",
                "per keyframe at 1,000",
                per_key[sizes[0]],
                target="ratio ~1 = linear",
            )
        )
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "classic.png"
        plot = peak_mb(["-m", "massager", "plot", "classic", "-o", str(out)])
        pyplot = peak_mb(["-c", "import matplotlib.pyplot"])
        bare = peak_mb(["-c", "import massager"])
    rows.append(
        Row("`massager plot classic` peak RSS", plot, "MB", "`import matplotlib.pyplot`", pyplot)
    )
    rows.append(Row("`import massager` peak RSS", bare, "MB", "`import matplotlib.pyplot`", pyplot))
    return rows
