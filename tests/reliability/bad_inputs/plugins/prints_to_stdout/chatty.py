"""A plugin that prints on stdout at import and in every hook it implements."""
from memscope import hookimpl

print("chatty: imported")


@hookimpl
def register_datasets(register):
    print("chatty: registering")


@hookimpl
def prepare_connection(conn):
    print("chatty: preparing a connection")
    conn.execute("CREATE OR REPLACE TEMP MACRO chatty_twice(x) AS 2 * x")


@hookimpl
def before_train(run):
    print("chatty: before training")


@hookimpl
def after_epoch(run, epoch, metrics):
    print(f"chatty: after epoch {epoch}")
