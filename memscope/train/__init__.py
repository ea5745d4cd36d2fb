"""The engine: device data, training with in-training collectors, checkpoints, the run process.

Everything under ``memscope.train``, ``memscope.models`` and ``memscope.analysis`` internals
may import torch; nothing else does.
"""
