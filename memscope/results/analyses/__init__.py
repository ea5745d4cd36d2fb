"""The analyses' data, one reader module per analysis of the paper.

Each reader takes a source (:func:`memscope.results.source.open_run` or
:func:`~memscope.results.source.open_sweep`) and returns a ``pyarrow.Table`` with a
``run_id`` column (a sweep source adds ``cell``, ``cell_label`` and ``seed``): the data
only, no formatting and no text. The report, the app, ``memscope figures`` and the Python
API all draw on these readers, so they show the same numbers.

- :mod:`.training`: ``epochs``; :mod:`.model`: ``layers`` (the layer groups, in network order);
- :mod:`.gradients`: ``layer_epochs``, ``windows``;
- :mod:`.rewinding`: ``rewinds``; :mod:`.retraining`: ``retrains``;
- :mod:`.flipping`: ``targets``, ``placement``, ``summary``;
- :mod:`.etd`: ``evals``;
- :mod:`.examples`: ``learned`` (when each training example is learned for good), ``scores``;
- :mod:`.grouped`: ``over_seeds`` (mean, std and n_runs per sweep cell).
"""
