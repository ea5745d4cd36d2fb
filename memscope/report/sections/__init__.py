"""The run report's sections, one builder per section: ``builder(run) -> Section | None``.

A builder reads the run through the analysis readers (``memscope.results.analyses``) and
returns ``None`` when its tables have no rows for the run, so a section appears only when
there is something to show. ``SECTIONS`` is the order ``build_report`` runs them in; the
"tables" and "next" sections come last.
"""

from __future__ import annotations

from typing import Callable

from memscope.report.blocks import Section, spread
from memscope.report.sections.etd import etd_section
from memscope.report.sections.flipping import flipping_section
from memscope.report.sections.gradients import gradients_section
from memscope.report.sections.layers import retraining_section, rewinding_section
from memscope.report.sections.run import next_section, run_section
from memscope.report.sections.tables import example_scores_section, plugin_tables_section, tables_section
from memscope.report.sections.training import examples_section, training_section
from memscope.results.source import RunResults

SectionBuilder = Callable[[RunResults], "Section | None"]

SECTIONS: list[tuple[str, SectionBuilder]] = [
    ("run", run_section),
    ("training", training_section),
    ("examples", examples_section),
    ("gradients", gradients_section),
    ("rewinding", rewinding_section),
    ("retraining", retraining_section),
    ("flipping", flipping_section),
    ("etd", etd_section),
    ("example_scores", example_scores_section),
    ("plugin_tables", plugin_tables_section),
]

__all__ = ["SECTIONS", "SectionBuilder", "next_section", "spread", "tables_section"]
