#ifndef MUSIC_SQLITE_CONFIG_H
#define MUSIC_SQLITE_CONFIG_H

/// sqlite3_config is variadic, so Swift cannot call it: the settings the store
/// makes through it are here, and only those (everything else Swift calls
/// through GRDB's GRDBSQLite module).

/// Turns off SQLite's memory statistics before the library initializes.
/// With them on (the default), every sqlite3_malloc and sqlite3_free takes one
/// process-wide mutex, which the worker's many threads then queue on.
/// Returns SQLITE_OK, or SQLITE_MISUSE when SQLite was already initialized.
int music_sqlite_disable_memory_statistics(void);

#endif
