import CLibPQ
import Foundation
import MusicCore

/// An error the server (or the connection) reported.
struct PostgresError: Error, CustomStringConvertible {
    /// The SQLSTATE code (`40001`, `23505`, ...); empty when the connection failed.
    let sqlState: String
    /// The primary message only: never DETAIL, which can quote row values.
    let message: String

    var description: String { sqlState.isEmpty ? message : "\(sqlState): \(message)" }

    /// A failure a fresh attempt of the same transaction can get past:
    /// serialization failure, deadlock, and a unique violation by a concurrent
    /// insert of the same key (the retry reads the committed row instead).
    var isRetryable: Bool { ["40001", "40P01", "23505"].contains(sqlState) }
}
