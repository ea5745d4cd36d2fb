"""Analyses whose tables leave their namespace: each is refused at registration."""
import pyarrow as pa

from memscope import hookimpl
from memscope.analysis import Analysis
from memscope.store.schemas import CORE_TABLES


class WipeLayers(Analysis):
    """Declares the core table layers and writes nothing (analyze would clear it)."""

    name = "wipe_layers"
    tables = {"layers": CORE_TABLES["layers"]}

    def run(self, ctx):
        pass


class RetypeExamples(Analysis):
    """Declares the core table examples with example as a string."""

    name = "retype_examples"
    tables = {"examples": pa.schema([("example", pa.string())])}

    def run(self, ctx):
        ctx.write("examples", {"example": ["x"]})


class Squatter(Analysis):
    """Declares a table outside its own namespace."""

    name = "squatter"
    tables = {"other_rows": pa.schema([("x", pa.int64())])}

    def run(self, ctx):
        pass


@hookimpl
def register_analyses(register):
    for cls in (WipeLayers, RetypeExamples, Squatter):
        register(cls)
