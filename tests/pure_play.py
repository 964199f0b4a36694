"""Play pickled cases on the pure-Python modules: `python pure_play.py CASES OUT`.

The other side of tests/test_compiled.py: run with MASSAGER_PURE_PYTHON=1, so every
module of the simulator loads from its `.py`; checks that it did, plays each
(stream, rig, options) case of the pickle CASES with `sim_play.recorded` and
pickles the list of what each gave to OUT.
"""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

import massager  # noqa: F401  (first: installs massager.compiled's finder)
from massager import compiled


def main(cases_path: str, out_path: str) -> None:
    """Play every case of `cases_path` on the pure modules; write the records to `out_path`."""
    from sim_play import recorded

    assert compiled.status().startswith("pure Python"), compiled.status()
    cases = pickle.loads(Path(cases_path).read_bytes())
    records = [recorded(stream, rig, **options) for stream, rig, options in cases]
    assert compiled.compiled_modules() == [], compiled.compiled_modules()
    Path(out_path).write_bytes(pickle.dumps(records))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
