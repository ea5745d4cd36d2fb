from memscope import hookimpl


@hookimpl
def register_commands(cli):
    raise RuntimeError("no commands today")
