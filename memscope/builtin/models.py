"""The built-in model architectures (factories import torch only when called)."""

from memscope import hookimpl


def _lazy(spec: str):
    def factory(*args, **kwargs):
        from memscope.models import load_factory

        return load_factory(spec)(*args, **kwargs)

    return factory


@hookimpl
def register_models(register):
    from memscope.models import BUILTIN_MODELS

    for name, (spec, description) in BUILTIN_MODELS.items():
        register(name, _lazy(spec), description=description)
