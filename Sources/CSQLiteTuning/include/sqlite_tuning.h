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

/// The statement API for the store's hot queries (`SQLiteTransaction`), on
/// statements GRDB prepared and caches (`Statement.sqliteStatement`): binding,
/// stepping and reading columns directly skips GRDB's per-query arguments,
/// cursor and row objects, which cost more instructions than SQLite itself.
/// Handles are `sqlite3_stmt *`; texts and blobs are copied when bound.
int music_sqlite_bind_text(void *statement, int index, const char *text, int length);
int music_sqlite_bind_blob(void *statement, int index, const void *bytes, int length);
int music_sqlite_bind_int64(void *statement, int index, long long value);
int music_sqlite_bind_double(void *statement, int index, double value);
int music_sqlite_bind_null(void *statement, int index);
/// SQLITE_ROW (100), SQLITE_DONE (101) or an error code.
int music_sqlite_step(void *statement);
/// Resets the statement and clears its bindings.
void music_sqlite_reset(void *statement);
int music_sqlite_column_is_null(void *statement, int column);
long long music_sqlite_column_int64(void *statement, int column);
double music_sqlite_column_double(void *statement, int column);
const unsigned char *music_sqlite_column_text(void *statement, int column, int *length);
const void *music_sqlite_column_blob(void *statement, int column, int *length);
const char *music_sqlite_error_message(void *statement);

#endif
