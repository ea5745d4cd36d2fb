"""Named random streams: each consumer draws from its own stream of the run seed.

Changing the number of epochs or the model must not change which examples are noisy, so
the noise, the subsets, the weights and the batch order each get a stream derived from
``(seed, name)``.
"""

from __future__ import annotations

import zlib

import numpy as np


def stream_key(seed: int, name: str, *extra: int) -> list[int]:
    return [int(seed) & 0xFFFFFFFF, zlib.crc32(name.encode("utf-8")), *(int(e) & 0xFFFFFFFF for e in extra)]


def numpy_stream(seed: int, name: str, *extra: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(stream_key(seed, name, *extra)))


def stream_seed(seed: int, name: str, *extra: int) -> int:
    """A 63-bit integer seed for torch generators, from the same named stream."""
    return int(np.random.SeedSequence(stream_key(seed, name, *extra)).generate_state(2, np.uint32).view(np.uint64)[0] >> 1)
