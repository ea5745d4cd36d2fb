import sys

sys.exit(3)  # a plugin must not end memscope
