"""Any sequence of API calls from two clients keeps the device inside its envelope (hypothesis).

The service's core and dispatcher run in this process on the simulator (sped up,
tracing); two clients call any method with any params, connect and vanish, and
the dead-man gets its turns. Whatever happens: every call answers a result or a
JSON-RPC error, the status stays well-formed, no traced level passes its
actuator's limit, and once stopped every output is at zero.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from service_support import SHORT_PROFILE

from massager.service.core import CoreOptions, ServiceCore
from massager.service.errors import RpcError
from massager.service.history import History
from massager.service.rpc import Client, Dispatcher
from massager.trace import read_trace

STATES = {"idle", "running", "paused", "stopping", "fault"}
values = st.one_of(
    st.floats(min_value=-1.0, max_value=2.0, allow_nan=False),
    st.sampled_from([0.0, 1.0, 7, "high", None, True]),
)
calls = st.one_of(
    st.tuples(
        st.just("session.start"),
        st.fixed_dictionaries(
            {"text": st.just(SHORT_PROFILE), "intensity": values},
        ),
    ),
    st.tuples(st.just("session.start"), st.just({"profile": "quick"})),
    st.tuples(st.sampled_from(["session.pause", "session.resume", "session.stop"]), st.just({})),
    st.tuples(st.just("session.set_intensity"), st.fixed_dictionaries({"value": values})),
    st.tuples(st.just("control.take"), st.fixed_dictionaries({"force": st.booleans()})),
    st.tuples(
        st.sampled_from(["control.release", "fault.acknowledge", "status.get", "nope"]),
        st.just({}),
    ),
    st.tuples(st.just("(vanish)"), st.just({})),
    st.tuples(st.just("(deadman)"), st.just({})),
)
steps = st.lists(
    st.tuples(st.integers(0, 1), calls, st.sampled_from([0.0, 0.01, 0.05])), max_size=14
)


async def _play(core: ServiceCore, script: list[tuple[int, tuple[str, Any], float]]) -> None:
    dispatcher = Dispatcher(core, rate_per_s=1e6, burst=1e6)
    clients = [Client("ws-1", "phone"), Client("ws-2", "tablet")]
    for client in clients:
        dispatcher.connect(client)
    for who, (method, params), pause in script:
        client = clients[who]
        if method == "(vanish)":
            dispatcher.disconnect(client)
            clients[who] = client = Client(client.id + "x", client.name)
            dispatcher.connect(client)
        elif method == "(deadman)":
            core.check_deadman(now=1e12)  # as if the controller had been gone for ages
        else:
            try:
                await dispatcher.call(client, method, params)
            except RpcError as exc:
                assert exc.code in range(-32700, -31999) and exc.message
        status = core.status(client.id)
        assert status["state"] in STATES
        assert 0.0 <= status["intensity"] <= 1.0
        holder = status["controller"]
        assert holder is None or holder["id"] in {c.id for c in clients}
        await asyncio.sleep(pause)
    await dispatcher.call(clients[0], "session.stop", {})


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(script=steps)
def test_any_calls_from_two_clients_keep_the_device_in_its_envelope(
    script: list[tuple[int, tuple[str, Any], float]],
) -> None:
    with tempfile.TemporaryDirectory(prefix="massager-props-") as tmp:
        trace = Path(tmp) / "trace.csv"
        history = History(":memory:")
        core = ServiceCore(CoreOptions(speed=50.0, trace=trace, deadman_s=0.5), history)
        asyncio.run(_play(core, script))
        assert core.wait_idle(15.0)
        assert core.state in ("idle", "fault")
        assert all(v == 0.0 for v in core.status()["levels"].values())
        if trace.exists():
            limits = {a.id: a.max_level for a in core.rig.actuators}
            rows = read_trace(trace)
            for row in rows:
                assert abs(row.level) <= limits[row.actuator] + 1e-6, row
            assert all(abs(v) < 1e-6 for v in rows.final_levels().values())
        history.close()
