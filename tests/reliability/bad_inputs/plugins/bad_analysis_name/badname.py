from memscope import hookimpl
from memscope.analysis import Analysis


class Bad(Analysis):
    name = "Bad Name"


@hookimpl
def register_analyses(register):
    register(Bad)
