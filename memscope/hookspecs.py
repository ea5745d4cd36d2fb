"""Every memscope hook, in one place.

memscope is built on its own hooks: the built-in datasets, noise models, models and the
paper's analyses are registered through exactly these specs (see ``memscope/builtin/``).
Hooks evolve by adding arguments only; pluggy passes an implementation any subset of
the arguments it names. docs/plugins.md has one section per hook (a test checks this).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

import pluggy

if TYPE_CHECKING:  # pragma: no cover
    import duckdb
    import typer

hookspec = pluggy.HookspecMarker("memscope")


@hookspec
def register_datasets(register: Callable[..., None]) -> None:
    """Register datasets.

    Called once when the plugin manager is built. Call
    ``register(name, loader, description="", needs_path=False, reads_path=False)`` for each
    dataset (``reads_path``: it can read ``data.path``; ``needs_path``: it must have one; a
    ``data.path`` given to a dataset that declares neither is a config error), where
    ``loader(spec: memscope.data.DatasetRequest) -> memscope.data.DatasetArrays`` returns
    numpy arrays (no torch needed).

    .. versionadded:: 0.1
    """


@hookspec
def register_noise_models(register: Callable[..., None]) -> None:
    """Register label-noise models.

    Call ``register(name, apply, description="")`` where
    ``apply(labels, num_classes, rate, rng, options) -> observed_labels`` takes and returns
    int64 numpy arrays; ``rng`` is a ``numpy.random.Generator`` from the run's noise stream and
    ``options`` is the run's ``NoiseConfig``.

    .. versionadded:: 0.1
    """


@hookspec
def register_models(register: Callable[..., None]) -> None:
    """Register model architectures.

    Call ``register(name, factory, description="")`` where
    ``factory(num_classes, in_channels, image_size, width, **options) -> torch.nn.Module``
    returns a module that also has ``layer_groups() -> list[memscope.models.LayerGroup]``
    (see ``memscope.models.base``).

    .. versionadded:: 0.1
    """


@hookspec
def register_analyses(register: Callable[..., None]) -> None:
    """Register analyses.

    Call ``register(analysis_class)`` with a subclass of ``memscope.analysis.Analysis``:
    it declares ``name``, ``version``, ``Options`` (a dataclass filled from
    ``[analysis.<name>]``), ``tables`` (Arrow schemas) and implements ``collect`` (during
    training) and/or ``run`` (after training).

    .. versionadded:: 0.1
    """


@hookspec
def register_commands(cli: "typer.Typer") -> None:
    """Add sub-commands to the ``memscope`` CLI.

    Called when the CLI starts. Use ``@cli.command()`` as usual; keep heavy imports inside the
    command function so that ``memscope query`` stays fast.

    .. versionadded:: 0.1
    """


@hookspec
def prepare_connection(conn: "duckdb.DuckDBPyConnection", home: str) -> None:
    """Prepare every DuckDB connection memscope opens for reading results.

    Called after the catalog's views exist and before the user's SQL runs. Define macros
    here (``conn.execute("CREATE TEMP MACRO ...")``); the connection is read-only.

    .. versionadded:: 0.1
    """


@hookspec
def before_train(run: Any) -> None:
    """Called in the run process after the data, noise and model are ready, before epoch 1.

    ``run`` is the ``memscope.train.RunContext``: ``run.config``, ``run.run_id``,
    ``run.run_dir``, ``run.model``, ``run.data``.

    .. versionadded:: 0.1
    """


@hookspec
def after_epoch(run: Any, epoch: int, metrics: dict[str, float]) -> None:
    """Called in the run process after each epoch's results are written.

    ``metrics`` holds that epoch's row of the ``epochs`` table (``clean_train_acc``,
    ``noisy_train_acc``, ``test_acc``, losses, ``lr``, ``seconds``).

    .. versionadded:: 0.1
    """


@hookspec
def after_train(run: Any, status: str) -> None:
    """Called once when the run ends: ``status`` is completed, cancelled or failed.

    .. versionadded:: 0.1
    """
