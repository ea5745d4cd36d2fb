from memscope import hookimpl


@hookimpl
def register_datasets(register):
    raise ValueError("kaput in register_datasets")
