"""The simulated Midjourney bot of the sandbox."""

from sandbox.midjourney.knobs import MidjourneyKnobs
from sandbox.midjourney.simulator import MidjourneySimulator

__all__ = ["MidjourneyKnobs", "MidjourneySimulator"]
