import Foundation
import GRDB
#if canImport(Glibc)
import Glibc
#endif

/// Why a backup or a restore was refused; nothing was changed.
public struct SQLiteFileRefusal: Error, CustomStringConvertible, Equatable {
    public let reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}
