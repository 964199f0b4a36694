"""Zones: the hierarchy, sensitivities and the forbidden zone."""

from __future__ import annotations

from massager import zones


def test_parents_expand_to_their_children_in_order_without_repeats() -> None:
    assert zones.leaves("toes") == ("toe1", "toe2", "toe3", "toe4", "toe5")
    assert zones.leaves("heel") == ("heel",)
    assert zones.expand(["sole", "arch", "ankle"]) == (
        "ball",
        "arch",
        "heel",
        "ankle_inner",
        "ankle_outer",
    )


def test_every_named_zone_is_known_and_knee_back_is_not() -> None:
    for zone in ("toes", "toe1", "sole", "ball", "arch", "heel", "achilles", "ankle"):
        assert zones.is_zone(zone)
    for zone in ("ankle_inner", "ankle_outer", "instep", "shin", "calf"):
        assert zones.is_zone(zone)
    assert not zones.is_zone(zones.FORBIDDEN_ZONE)
    assert zones.FORBIDDEN_ZONE == "knee_back"
    assert zones.FORBIDDEN_ZONE not in zones.ALL_ZONES
    assert not zones.is_zone("elbow")


def test_brief_sensitivities_heel_strongest() -> None:
    s = zones.sensitivity
    assert (s("heel"), s("ball"), s("arch"), s("calf")) == (1.0, 0.85, 0.7, 0.8)
    assert (s("toe1"), s("achilles"), s("shin"), s("instep")) == (0.6, 0.5, 0.5, 0.4)
    assert s("ankle_inner") == s("ankle_outer") == 0.35
    assert max(zones.DEFAULT_SENSITIVITY.values()) == s("heel")
    assert all(0.0 <= v <= 1.0 for v in zones.DEFAULT_SENSITIVITY.values())


def test_a_parent_takes_its_gentlest_child_and_overrides_apply() -> None:
    assert zones.sensitivity("sole") == 0.7
    assert zones.sensitivity("sole", {"arch": 0.5}) == 0.5
    assert zones.sensitivity("heel", {"heel": 0.9}) == 0.9


def test_ankle_bones_are_never_pressed() -> None:
    assert {"ankle", "ankle_inner", "ankle_outer"} == zones.PRESS_FORBIDDEN
