"""The examples in docs/profiles.md are valid profiles, steps and rigs."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from massager import api

DOC = Path(__file__).parents[1] / "docs" / "profiles.md"
INCLUDED = """name: feet
params:
  strength: 0.8
steps:
  - technique: knead
    zones: sole
    duration: 1m
    intensity: $strength
"""
BLOCKS = re.findall(r"```yaml\n(.*?)```", DOC.read_text(), flags=re.S)


def test_the_doc_has_an_example_for_every_technique_and_block() -> None:
    text = "\n".join(BLOCKS)
    from massager.profile.model import TECHNIQUES

    for technique in TECHNIQUES:
        assert f"technique: {technique}" in text
    for block in ("parallel:", "repeat:", "include:", "steps:"):
        assert block in text


@pytest.mark.parametrize("block", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_every_example_validates(block: str, tmp_path: Path) -> None:
    data: Any = yaml.safe_load(block)
    if isinstance(data, dict) and "actuators" in data:
        api.rig_from_data(data)
        return
    if isinstance(data, dict) and "steps" in data and "name" in data:
        profile = api.profile_from_data(data)
    else:
        items = data if isinstance(data, list) else [data]
        local = [str(i["include"]) for i in items if "include" in i and "/" in str(i["include"])]
        if local:
            # the example includes files of its own folder: give it one to find
            for rel in local:
                (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
                (tmp_path / rel).write_text(INCLUDED)
            (tmp_path / "example.yaml").write_text(yaml.safe_dump({"name": "ex", "steps": items}))
            profile = api.load_profile(tmp_path / "example.yaml")
            api.compile_stream(profile, api.load_rig(), session_cap_ms=api.HARD_CAP_MS)
            return
        if data.get("params") if isinstance(data, dict) else False:
            profile = api.profile_from_data(data)
        else:
            profile = api.profile_from_data({"steps": items})
    api.compile_stream(profile, api.load_rig(), session_cap_ms=api.HARD_CAP_MS)


README = (Path(__file__).parents[1] / "README.md").read_text()


@pytest.mark.parametrize("rig", ["reference", "pi-gpio-minimal"])
def test_the_readme_profile_validates_on_the_rigs_it_names(rig: str, tmp_path: Path) -> None:
    [block] = re.findall(r"```yaml\n(.*?)```", README, flags=re.S)
    assert "massager validate my.yaml [--rig pi-gpio-minimal]" in README
    path = tmp_path / "my.yaml"
    path.write_text(block)
    profile = api.load_profile(path)
    stream = api.compile_stream(profile, api.load_rig(rig), params={"strength": "0.5"})
    assert stream.warnings == ()
    assert profile.name == "my-evening"
