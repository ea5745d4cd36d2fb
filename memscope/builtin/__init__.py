"""memscope's own features, registered through the same hooks a third party uses."""

BUILTIN_PLUGINS = (
    "memscope.builtin.datasets",
    "memscope.builtin.noise",
    "memscope.builtin.models",
    "memscope.builtin.analyses",
)
