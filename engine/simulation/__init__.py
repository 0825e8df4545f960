"""The simulated SaaS business: a reproducible source of SPEC §2 events.

`Simulator(SimConfig(...))` yields a history (`streamkpi simulate`);
`live.LiveSimulation` produces it into the topics in real time (`streamkpi run
--simulate`, `simulate --live`). Pure apart from `live` and `write_history`:
every draw comes from the configured seed, never the wall clock.
"""

from engine.simulation.simulator import SimConfig, Simulator, write_history

__all__ = ["SimConfig", "Simulator", "write_history"]
