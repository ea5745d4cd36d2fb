from memscope import hookimpl


@hookimpl
def register_datasets(register):
    register("digits", lambda request: None)  # already a built-in
