#include <stddef.h>
#include <sqlite3.h>
#include "sqlite_tuning.h"

int music_sqlite_disable_memory_statistics(void) {
    return sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

long long music_sqlite_data_version(void *db, void **statement) {
    sqlite3_stmt *stmt = (sqlite3_stmt *)*statement;
    if (stmt == NULL) {
        if (sqlite3_prepare_v3((sqlite3 *)db, "PRAGMA data_version", -1, SQLITE_PREPARE_PERSISTENT, &stmt, NULL) != SQLITE_OK) {
            return -1;
        }
        *statement = stmt;
    }
    long long version = -1;
    if (sqlite3_step(stmt) == SQLITE_ROW) version = sqlite3_column_int64(stmt, 0);
    sqlite3_reset(stmt);
    return version;
}

void music_sqlite_finalize(void *statement) {
    sqlite3_finalize((sqlite3_stmt *)statement);
}
