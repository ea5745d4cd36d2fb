"""``python -m memscope``: the same as the ``memscope`` command."""

from memscope.main import main

main()
