from dataclasses import dataclass

from memscope import hookimpl
from memscope.analysis import Analysis


@dataclass(frozen=True)
class Options:
    k: int = 5  # neighbours

    def __post_init__(self):
        if self.k < 1:
            raise ValueError(f"k = {self.k} must be at least 1")


class Knn(Analysis):
    name = "knn"
    Options = Options

    def run(self, ctx):
        pass


@hookimpl
def register_analyses(register):
    register(Knn)
