"""The SQLite driver of the manifest, with the `sqlite-vec` extension where it can be loaded.

Dense routing inside the manifest needs `sqlite-vec`, an extension. Python's own `sqlite3` loads
extensions only when built to (many Linux builds are not); then `pysqlite3` (the `pysqlite3-binary`
wheel, the same DB-API with a current SQLite) is used instead. Without either, stores still work:
lexical routing (FTS5) is built in and dense routing scans the keys in the manifest exactly.
Every connection of the process comes from `connect`, so one SQLite library opens a store's file.
"""

from __future__ import annotations

import functools
import logging
from types import ModuleType
from typing import Any

logger = logging.getLogger(__name__)


@functools.cache
def driver() -> ModuleType:
    """The DB-API module: `sqlite3` if it can load extensions, else `pysqlite3.dbapi2` if installed, else `sqlite3`."""
    import sqlite3

    if hasattr(sqlite3.Connection, "enable_load_extension") or _vec_module() is None:
        return sqlite3
    try:
        from pysqlite3 import dbapi2
    except ImportError:
        logger.info("sqlite3 cannot load extensions and pysqlite3 is not installed: dense routing scans keys (pip install pysqlite3-binary)")
        return sqlite3
    return dbapi2


@functools.cache
def _vec_module() -> Any:
    try:
        import sqlite_vec
    except ImportError:
        return None
    return sqlite_vec


def connect(database: str, uri: bool = False) -> Any:
    """A connection in autocommit mode usable from any thread, with `sqlite-vec` loaded when available."""
    conn = driver().connect(database, uri=uri, timeout=30, isolation_level=None, check_same_thread=False)
    if has_vec():
        conn.enable_load_extension(True)
        _vec_module().load(conn)
        conn.enable_load_extension(False)
    return conn


@functools.cache
def has_vec() -> bool:
    """Whether connections load `sqlite-vec` (vector search inside the manifest)."""
    module = _vec_module()
    if module is None or not hasattr(driver().Connection, "enable_load_extension"):
        return False
    try:
        probe = driver().connect(":memory:")
        probe.enable_load_extension(True)
        module.load(probe)
        probe.close()
    except Exception as exc:  # an extension built for another platform: fall back to the exact scan
        logger.warning("sqlite-vec did not load (%s): dense routing scans keys", exc)
        return False
    return True


def error() -> type[Exception]:
    """The driver's base exception class (`sqlite3.Error` or pysqlite3's)."""
    return driver().Error


def database_error() -> type[Exception]:
    return driver().DatabaseError
