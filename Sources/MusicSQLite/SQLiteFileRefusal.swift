import Foundation
import GRDB
#if canImport(Glibc)
import Glibc
#endif

/// Why a backup or a restore was refused; nothing was changed.
package struct SQLiteFileRefusal: Error, CustomStringConvertible, Equatable {
    package let reason: String
    package init(_ reason: String) { self.reason = reason }
    package var description: String { reason }
}
