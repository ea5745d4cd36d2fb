"""The results home: ``$MEMSCOPE_HOME`` with ``runs/<run_id>/`` and the ``memscope.duckdb`` catalog.

Layout::

    <home>/memscope.duckdb                     views only (rebuilt atomically)
    <home>/runs/_schema/<table>/part-schema.parquet   one zero-row part per table
    <home>/runs/<run_id>/run.json              status, pid, heartbeat, summary
    <home>/runs/<run_id>/config.toml           the resolved config
    <home>/runs/<run_id>/checkpoints/epoch-XXXX.pt
    <home>/runs/<run_id>/<table>/part-XXXXXX.parquet
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

from memscope.errors import MemscopeError, StoreError
from memscope.store.parts import SCHEMA_PART, SCHEMA_RUN, write_parquet_atomic  # noqa: F401  (re-exported)

if TYPE_CHECKING:
    import pyarrow as pa

# pyarrow (and the core schemas built with it) load only where a home is created, a schema
# part is read or written, or rows are counted: opening a home to query it needs none of it.


def core_schema_fingerprint() -> str:
    """A short hash of the core tables' definitions (memscope/store/schemas.py): it changes
    when a column is added; any other edit of that file costs one re-check of the schema
    parts. Hashing the file rather than the schemas keeps pyarrow out of opening a home."""
    import hashlib

    try:
        data = Path(__file__).with_name("schemas.py").read_bytes()
    except OSError:  # installed without sources: hash the schemas themselves
        from memscope.store.schemas import CORE_TABLES

        data = "\n".join(f"{name}:{schema}" for name, schema in sorted(CORE_TABLES.items())).encode()
    return hashlib.sha256(data).hexdigest()[:16]


def _same_schema(path: Path, schema: "pa.Schema") -> bool:
    """Whether the Parquet file at ``path`` has ``schema`` (an unreadable file has not)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.read_schema(path).remove_metadata().equals(schema.remove_metadata())
    except (OSError, pa.ArrowInvalid):
        return False


def default_home() -> Path:
    env = os.environ.get("MEMSCOPE_HOME")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("memscope", appauthor=False))


class Home:
    def __init__(self, root: str | Path):
        self.root = Path(root).expanduser().absolute()

    def __repr__(self) -> str:
        return f"Home({str(self.root)!r})"

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    @property
    def schema_dir(self) -> Path:
        return self.runs_dir / SCHEMA_RUN

    @property
    def catalog_path(self) -> Path:
        return self.root / "memscope.duckdb"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def run_dir(self, run_id: str) -> Path:
        return self.runs_dir / run_id

    def require_run(self, run_id: str) -> Path:
        """The directory of the run ``run_id`` names; its ``.name`` is the full run id.

        ``run_id`` is a full id, ``latest`` (the newest id: ids start with their start
        time), a unique prefix, or the short random suffix (``3fa2`` of
        ``20261128-111502-digits-cnn-3fa2``). A user error when it names no run (empty,
        a path, a hidden or ``_schema`` folder, no match) or more than one.
        """
        if not run_id or "/" in run_id or "\\" in run_id or run_id.startswith((".", "_")):
            raise MemscopeError(f"no run '{run_id}' in this home; see the ids with 'memscope runs list'")
        if self.run_dir(run_id).is_symlink():
            raise MemscopeError(
                f"runs/{run_id} is a symbolic link; memscope does not follow linked run folders: move the "
                "folder itself into runs/, or move the link aside with 'memscope runs check --repair'"
            )
        if self.run_dir(run_id).is_dir():
            return self.run_dir(run_id)
        ids = self.run_ids()
        if run_id == "latest":
            if not ids:
                raise MemscopeError("no runs yet in this home, so no 'latest'; start one with 'memscope run digits'")
            return self.run_dir(ids[-1])
        matches = [r for r in ids if r.startswith(run_id) or r.rsplit("-", 1)[-1] == run_id]
        if len(matches) == 1:
            return self.run_dir(matches[0])
        if matches:
            shown = ", ".join(matches[:8]) + (f" (and {len(matches) - 8} more)" if len(matches) > 8 else "")
            raise MemscopeError(f"run id '{run_id}' is ambiguous: it matches {shown}; give more of the id")
        raise MemscopeError(f"no run '{run_id}' in this home; see the ids with 'memscope runs list'")

    def exists(self) -> bool:
        return self.schema_dir.is_dir()

    def run_ids(self) -> list[str]:
        if not self.runs_dir.is_dir():
            return []
        return sorted(  # a symlinked run folder is not a run of this home (memscope runs check flags it)
            p.name for p in self.runs_dir.iterdir()
            if not p.name.startswith(("_", ".")) and not p.is_symlink() and p.is_dir()
        )

    def table_names(self) -> list[str]:
        """Every table that has a schema part (core tables and plugin tables)."""
        if not self.schema_dir.is_dir():
            from memscope.store.schemas import CORE_TABLES

            return sorted(CORE_TABLES)
        return sorted(p.name for p in self.schema_dir.iterdir() if (p / SCHEMA_PART).is_file())

    def table_schema(self, table: str) -> "pa.Schema | None":
        import pyarrow.parquet as pq

        path = self.schema_dir / table / SCHEMA_PART
        return pq.read_schema(path) if path.is_file() else None

    def ensure(self) -> "Home":
        """Create the home, its schema parts and catalog; a clear error if it cannot be written."""
        if self._is_current():
            return self
        from memscope.store.schemas import CORE_TABLES

        try:
            self.runs_dir.mkdir(parents=True, exist_ok=True)
            created = False
            marker = self.schema_dir / f".core-{core_schema_fingerprint()}"
            upgrade = not marker.is_file()  # one stat per call; the footers are read only after an upgrade
            for name, schema in CORE_TABLES.items():
                created |= self._write_schema_part(name, schema, replace_if_different=upgrade)
            if upgrade:
                for old in self.schema_dir.glob(".core-*"):
                    old.unlink(missing_ok=True)
                marker.write_text("\n".join(CORE_TABLES) + "\n", encoding="utf-8")
        except OSError as exc:
            raise StoreError(
                f"cannot write the memscope home {self.root}: {exc.strerror or exc}; "
                "choose another with --home or MEMSCOPE_HOME"
            ) from None
        if created or not self.catalog_path.exists():
            self._refresh_catalog()
        return self

    def _is_current(self) -> bool:
        """Whether the last :meth:`ensure` was for these core schemas and nothing it made is
        gone: the marker lists the core tables, so a few stats tell, without pyarrow (every
        ``memscope query`` opens its home this way)."""
        marker = self.schema_dir / f".core-{core_schema_fingerprint()}"
        try:
            tables = marker.read_text(encoding="utf-8").split()
        except (OSError, UnicodeDecodeError):
            return False
        return (
            bool(tables)
            and self.catalog_path.is_file()
            and all((self.schema_dir / table / SCHEMA_PART).is_file() for table in tables)
        )

    def _refresh_catalog(self) -> None:
        """Rebuild the catalog; a bad part elsewhere in the home must not stop a run or a
        repair (readers rebuild a stale catalog, and name the bad part, themselves)."""
        from memscope.store.catalog import refresh_catalog
        from memscope.store.parts import bad_part_error

        try:
            refresh_catalog(self)
        except StoreError as exc:
            if bad_part_error(exc) is None:
                raise

    def _write_schema_part(self, table: str, schema: "pa.Schema", replace_if_different: bool = False) -> bool:
        """Write a table's zero-row schema part; an existing one stays unless it differs from
        ``schema`` and ``replace_if_different`` (a home made by an older memscope gains the
        new columns, so that selecting them by name works before any new run writes them)."""
        path = self.schema_dir / table / SCHEMA_PART
        if path.is_file() and not (replace_if_different and not _same_schema(path, schema)):
            return False
        path.parent.mkdir(parents=True, exist_ok=True)
        write_parquet_atomic(schema.empty_table(), path)
        return True

    def table_row_counts(self, run_id: str) -> dict[str, int]:
        """Rows per table for one run, from the Parquet footers (no data read)."""
        import pyarrow.parquet as pq

        from memscope.store.parts import PART_RE

        counts: dict[str, int] = {}
        run_dir = self.run_dir(run_id)
        for table in self.table_names():
            folder = run_dir / table
            if not folder.is_dir():
                continue
            total = 0
            for part in sorted(folder.iterdir()):
                if PART_RE.match(part.name):
                    with contextlib.suppress(OSError, ValueError):  # a part removed or rewritten while we counted
                        total += pq.read_metadata(part).num_rows
            counts[table] = total
        return counts

    def remove_run(self, run_id: str) -> None:
        """Move the run out of ``runs/`` in one rename (queries see all of it or none), then delete."""
        import secrets
        import shutil

        trash = self.root / ".trash"
        target = trash / f"{run_id}.{secrets.token_hex(3)}"
        try:
            trash.mkdir(exist_ok=True)
            self.run_dir(run_id).rename(target)
        except OSError as exc:
            raise StoreError(f"cannot delete run {run_id}: {exc.strerror or exc}") from None
        shutil.rmtree(target, ignore_errors=True)
        with contextlib.suppress(OSError):  # another deletion in progress keeps the folder
            trash.rmdir()

    def declare_table(self, table: str, schema: "pa.Schema", existing: "pa.Schema | None" = None) -> None:
        """Make a (plugin) table queryable: a zero-row schema part and a catalog view.

        ``existing`` is the table's schema part when the caller has read it already (its
        footer is then not read again); without it the part is looked up here.
        """
        if existing is None:
            existing = self.table_schema(table)
        if existing is not None:
            return
        self._write_schema_part(table, schema)
        self._refresh_catalog()


def resolve_home(explicit: str | Path | None = None) -> Home:
    """``--home`` beats ``MEMSCOPE_HOME`` beats the platform's user data dir."""
    return Home(explicit if explicit else default_home())
