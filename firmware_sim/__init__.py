"""firmware_sim: a simulated sitload sensor (body model -> signals -> protocol v1 frames).

``SimulatedSensor`` yields ``SimChunk``s of notification values with send/host times, ground truth
per second, battery levels and link events; ``Faults`` injects drops, disconnects, clock drift,
a weak battery and corrupt frames; ``SCENARIOS`` names the simulated days.
"""

from sitload.firmware_sim.device import Faults, SimChunk, SimulatedSensor
from sitload.firmware_sim.scenarios import SCENARIOS, Scenario

__all__ = ["SCENARIOS", "Faults", "Scenario", "SimChunk", "SimulatedSensor"]
