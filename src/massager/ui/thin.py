"""Steps as a picture can draw them: one box each, or, past a limit, runs of short ones merged.

A timeline picture draws a box, a label and a shaded band per step in every
lane, so its cost grows with the number of steps. A profile of thousands of
short steps would take minutes and a picture taller than a wall (a note per
unlabelled step); here steps narrower than a pixel column's share of the
picture are merged, track by track, into groups drawn as one box each ("12
steps"), so a picture costs at most about MAX_DRAWN_STEPS boxes whatever the
profile holds.
"""

from __future__ import annotations

from collections.abc import Sequence

from massager.stream import StepInfo

MAX_DRAWN_STEPS = 250
"""Most step boxes a picture draws; a profile with more has its short steps merged."""

MAX_NOTED_STEPS = 40
"""Most unlabelled steps a picture lists in its notes (the rest are counted)."""


def drawn_steps(steps: Sequence[StepInfo], duration_ms: float) -> tuple[list[StepInfo], str]:
    """The steps to draw, and a note saying what was merged ("" when nothing was).

    Up to MAX_DRAWN_STEPS steps are drawn as they are. Past that, consecutive
    steps of a track narrower than 1/MAX_DRAWN_STEPS of the picture are merged
    into a group at least that wide, named after the steps it holds (its index
    is its first step's, so the steps it holds stay findable by number).
    """
    if len(steps) <= MAX_DRAWN_STEPS:
        return list(steps), ""
    least = max(duration_ms, 1.0) / MAX_DRAWN_STEPS
    out: list[StepInfo] = []
    by_track: dict[int, list[StepInfo]] = {}
    for step in steps:
        by_track.setdefault(step.track, []).append(step)
    for track_steps in by_track.values():
        group: list[StepInfo] = []
        for step in track_steps:
            if not group and step.end_ms - step.start_ms >= least:
                out.append(step)
                continue
            group.append(step)
            if group[-1].end_ms - group[0].start_ms >= least:
                out.append(_merged(group))
                group = []
        if group:
            out.append(_merged(group))
    out.sort(key=lambda s: (s.start_ms, s.track))
    note = (
        f"{len(steps):,} steps are too many to draw one by one: runs of short steps are "
        f"drawn merged ({len(out):,} boxes); massager show lists every step"
    )
    return out, note


def _merged(group: list[StepInfo]) -> StepInfo:
    first, last = group[0], group[-1]
    if len(group) == 1:
        return first
    name = f"steps {first.number}-{last.number}"
    return StepInfo(first.index, name, "", (), first.start_ms, last.end_ms, first.track)
