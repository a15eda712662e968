"""engine.storage: the file I/O interface (real and fault-injecting) and the commit log.

Every byte the database persists goes through a `FileSystem`: `OsFileSystem` in
production, `SimFileSystem` in crash tests. `CommitLog` is the append-only
logical log (`<db>-log`), one checksummed frame per commit, with group commit.
"""

from .commit_log import (
    FRAME_HEADER_SIZE,
    FRAME_MAGIC,
    HEADER_SIZE,
    LOG_HEADER,
    SYNC_FULL,
    SYNC_NORMAL,
    SYNC_OFF,
    CommitLog,
    CorruptLogError,
    LogPoisonedError,
    encode_frame,
    scan_frames,
)
from .sim import SimFile, SimFileLock, SimFileSystem, SimulatedCrash
from .vfs import File, FileLock, FileSystem, LockHeldError, OsFile, OsFileLock, OsFileSystem

__all__ = [
    "File", "FileLock", "FileSystem", "LockHeldError", "OsFile", "OsFileLock",
    "OsFileSystem", "SimFile", "SimFileLock", "SimFileSystem", "SimulatedCrash",
    "CommitLog", "CorruptLogError", "LogPoisonedError", "SYNC_OFF", "SYNC_NORMAL",
    "SYNC_FULL", "LOG_HEADER", "HEADER_SIZE", "FRAME_MAGIC", "FRAME_HEADER_SIZE",
    "encode_frame", "scan_frames",
]
