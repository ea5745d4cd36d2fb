"""Datasets as numpy arrays (torch-free), noise, and their device tensors.

A dataset loader takes a ``DatasetRequest`` and returns ``DatasetArrays``. Images are
``(N, H, W, C)`` uint8 (0..255) or float32 (0..1); labels are integers in [0, K).
"""

from memscope.data.arrays import DatasetArrays, DatasetRequest

__all__ = ["DatasetArrays", "DatasetRequest"]
