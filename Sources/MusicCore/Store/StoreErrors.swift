/// The database cannot be reached (connection refused or lost mid-request).
/// The API answers 503 SERVICE_UNAVAILABLE; the next request tries again.
public struct StoreUnavailableError: Error, CustomStringConvertible {
    public let reason: String
    public init(reason: String) { self.reason = reason }
    public var description: String { reason }
}

/// A write was started inside a read transaction on the same thread (a fault
/// of the caller, refused the same way by every store): nothing was written,
/// and the read goes on.
public struct WriteInsideReadError: Error, CustomStringConvertible {
    public init() {}
    public var description: String { "a write cannot start inside a read transaction" }
}
