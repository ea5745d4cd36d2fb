"""The paper's five analyses, registered like any third-party analysis."""

import importlib

from memscope import hookimpl

PAPER_ANALYSES = (
    "memscope.analysis.gradient_accounting:GradientAccounting",
    "memscope.analysis.rewinding:LayerRewinding",
    "memscope.analysis.retraining:LayerRetraining",
    "memscope.analysis.neuron_flipping:NeuronFlipping",
    "memscope.analysis.etd:ExampleTiedDropout",
)


@hookimpl
def register_analyses(register):
    for spec in PAPER_ANALYSES:
        module_name, class_name = spec.split(":")
        register(getattr(importlib.import_module(module_name), class_name))
