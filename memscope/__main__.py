"""``python -m memscope``: the same as the ``memscope`` command."""

from memscope.cli.app import main

main()
