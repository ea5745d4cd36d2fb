"""The paper's figures (Maini et al., ICML 2023) as image files, drawn with matplotlib from
the results layer (``memscope.results``).

- :mod:`.data`: ``figure_data_*``, the numbers on each figure's axes, from Arrow tables;
- :mod:`.draw`: ``draw_*``, one matplotlib ``Figure`` per figure (never pyplot);
- :mod:`.style`: the colour-blind-safe palette, markers, sizes, and saving;
- :mod:`.build`: which figures exist, and :func:`~.build.write_figures`.

matplotlib is imported only when a figure is drawn (the optional ``figures`` extra); this
package never imports torch, textual or typer.
"""
