"""The built-in label-noise models."""

from memscope import hookimpl


@hookimpl
def register_noise_models(register):
    from memscope.data import noise

    register("symmetric", noise.symmetric, description="y -> (y + r) mod K, r uniform in 1..K-1 (never the true label)")
    register("pairflip", noise.pairflip, description="y -> (y + 1) mod K")
    register("none", noise.no_noise, description="clean labels")
