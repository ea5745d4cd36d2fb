"""Analyses: the paper's five and any plugin's, all subclasses of ``Analysis``.

Declaration modules import torch only inside methods, so that listing plugins stays fast.
"""

from memscope.analysis.base import Analysis, BatchInfo, NoOptions

__all__ = ["Analysis", "BatchInfo", "NoOptions"]
