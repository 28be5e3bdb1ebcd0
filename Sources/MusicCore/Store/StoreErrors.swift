/// The database cannot be reached (connection refused or lost mid-request).
/// The API answers 503 SERVICE_UNAVAILABLE; the next request tries again.
package struct StoreUnavailableError: Error, CustomStringConvertible {
    package let reason: String
    package init(reason: String) { self.reason = reason }
    package var description: String { reason }
}

/// A write was started inside a read transaction on the same thread (a fault
/// of the caller, refused the same way by every store): nothing was written,
/// and the read goes on.
package struct WriteInsideReadError: Error, CustomStringConvertible {
    package init() {}
    package var description: String { "a write cannot start inside a read transaction" }
}
