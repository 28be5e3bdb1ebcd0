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

int music_sqlite_bind_text(void *statement, int index, const char *text, int length) {
    return sqlite3_bind_text((sqlite3_stmt *)statement, index, text, length, SQLITE_TRANSIENT);
}

int music_sqlite_bind_blob(void *statement, int index, const void *bytes, int length) {
    return sqlite3_bind_blob((sqlite3_stmt *)statement, index, bytes, length, SQLITE_TRANSIENT);
}

int music_sqlite_bind_int64(void *statement, int index, long long value) {
    return sqlite3_bind_int64((sqlite3_stmt *)statement, index, value);
}

int music_sqlite_bind_double(void *statement, int index, double value) {
    return sqlite3_bind_double((sqlite3_stmt *)statement, index, value);
}

int music_sqlite_bind_null(void *statement, int index) {
    return sqlite3_bind_null((sqlite3_stmt *)statement, index);
}

int music_sqlite_step(void *statement) {
    return sqlite3_step((sqlite3_stmt *)statement);
}

void music_sqlite_reset(void *statement) {
    sqlite3_reset((sqlite3_stmt *)statement);
    sqlite3_clear_bindings((sqlite3_stmt *)statement);
}

int music_sqlite_column_is_null(void *statement, int column) {
    return sqlite3_column_type((sqlite3_stmt *)statement, column) == SQLITE_NULL;
}

long long music_sqlite_column_int64(void *statement, int column) {
    return sqlite3_column_int64((sqlite3_stmt *)statement, column);
}

double music_sqlite_column_double(void *statement, int column) {
    return sqlite3_column_double((sqlite3_stmt *)statement, column);
}

const unsigned char *music_sqlite_column_text(void *statement, int column, int *length) {
    const unsigned char *text = sqlite3_column_text((sqlite3_stmt *)statement, column);
    *length = sqlite3_column_bytes((sqlite3_stmt *)statement, column);
    return text;
}

const void *music_sqlite_column_blob(void *statement, int column, int *length) {
    const void *bytes = sqlite3_column_blob((sqlite3_stmt *)statement, column);
    *length = sqlite3_column_bytes((sqlite3_stmt *)statement, column);
    return bytes;
}

const char *music_sqlite_error_message(void *statement) {
    return sqlite3_errmsg(sqlite3_db_handle((sqlite3_stmt *)statement));
}
