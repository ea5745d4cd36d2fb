# memscope's fixtures (tiny_run, tiny_run_copy, tiny_run_factory, memscope_home) for the tests.
pytest_plugins = ["memscope.testing"]
