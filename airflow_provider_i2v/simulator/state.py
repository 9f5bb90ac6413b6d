"""Everything one simulated gateway holds, shared by its in-process API and its handlers.

The :class:`~.app.Simulator` is what tests hold; the handlers of :mod:`.gateway` are
what requests reach. Both work on one :class:`State`, so an in-process read (``sim.
creations``) and an HTTP answer can never disagree. The parts are long-lived and
cleared in place by :meth:`State.reset`, so a handler in flight never holds a stale
one.
"""

from __future__ import annotations

import os
import random
import time

from .config import SimConfig
from .fault_answers import FaultBodies
from .faults import FaultPicker
from .generations import GenerationStore
from .media import MediaLibrary
from .record import Recorder


class State:
    """The config, clock, random source, generations, record and media of one gateway."""

    def __init__(self, config: SimConfig | None = None) -> None:
        self.config = config if config is not None else SimConfig()
        self.offset = 0.0
        self.seed = 0
        self.rng = random.Random()
        self.picker = FaultPicker()
        self.bodies = FaultBodies()
        self.store = GenerationStore()
        self.media = MediaLibrary()
        self.recorder = Recorder(self.config.record_limit)
        self.reset()

    def clock(self) -> float:
        """The simulator's monotonic clock: ``time.monotonic()`` plus every advance."""
        return time.monotonic() + self.offset

    def reseed(self) -> None:
        """Seed the random source with the configured seed, or a fresh one drawn now."""
        seed = self.config.seed
        self.seed = seed if seed is not None else int.from_bytes(os.urandom(6), "big")
        self.rng.seed(self.seed)

    def reset(self, config: SimConfig | None = None) -> None:
        """Forget generations, records and media, rewind faults, reseed, undo advances."""
        if config is not None:
            config.validate()
            self.config = config
        self.store.clear()
        self.media.clear()
        self.recorder.reset(self.config.record_limit)
        self.picker.reset()
        self.bodies.reset()
        self.offset = 0.0
        self.reseed()
