"""memscope's version, in a module of its own: the store records it without importing the
package root (whose lazy API would put every layer above the store in its import graph)."""

__version__ = "0.1.0"
