#include <sqlite3.h>
#include "sqlite_tuning.h"

int music_sqlite_disable_memory_statistics(void) {
    return sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}
