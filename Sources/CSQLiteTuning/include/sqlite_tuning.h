#ifndef MUSIC_SQLITE_TUNING_H
#define MUSIC_SQLITE_TUNING_H

/// Turns off SQLite's memory statistics before the library initializes.
/// With them on (the default), every sqlite3_malloc and sqlite3_free takes one
/// process-wide mutex, which the worker's many threads then queue on.
/// sqlite3_config is variadic, so Swift cannot call it: this shim does.
/// Returns SQLITE_OK, or SQLITE_MISUSE when SQLite was already initialized.
int music_sqlite_disable_memory_statistics(void);

/// `PRAGMA data_version` on the connection `db` (a `sqlite3 *`), through the
/// statement in `*statement`, prepared there on first use: the read cache asks
/// it on every read, and through GRDB (a dispatch queue, a statement lookup,
/// a row) it cost a seventh of a cached read's instructions. -1 on error.
/// The caller owns the connection on this thread and finalizes the statement
/// (`music_sqlite_finalize`) before the connection closes.
long long music_sqlite_data_version(void *db, void **statement);

void music_sqlite_finalize(void *statement);

#endif
