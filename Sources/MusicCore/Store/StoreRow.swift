/// One row of a query's result, read by column index (0-based): what each store
/// reads from its own driver. The mapping from rows to models (`RowMapping`) is
/// written once over this protocol; each store keeps only its SQL dialect.
/// Public, not `package`, for `RowMapping`'s inlinable decoders.
public protocol StoreRow {
    func isNull(_ column: Int32) -> Bool
    func int64(_ column: Int32) -> Int64
    func double(_ column: Int32) -> Double
    func bool(_ column: Int32) -> Bool
    func string(_ column: Int32) -> String
    /// A text column's UTF-8 as the driver holds it, valid only inside `body`:
    /// read without making a String (`RowMapping.appendMember`).
    func withUTF8<Result>(_ column: Int32, _ body: (UnsafeBufferPointer<UInt8>) throws -> Result) rethrows -> Result
    func bytes(_ column: Int32) -> [UInt8]
}

extension StoreRow {
    @inlinable public func int(_ column: Int32) -> Int { Int(int64(column)) }
    @inlinable public func optionalInt64(_ column: Int32) -> Int64? { isNull(column) ? nil : int64(column) }
    @inlinable public func optionalDouble(_ column: Int32) -> Double? { isNull(column) ? nil : double(column) }
    @inlinable public func optionalString(_ column: Int32) -> String? { isNull(column) ? nil : string(column) }
    /// Times are stored as whole seconds since 1970 in both stores.
    @inlinable public func timestamp(_ column: Int32) -> Timestamp { Timestamp(secondsSince1970: int64(column)) }
    @inlinable public func optionalTimestamp(_ column: Int32) -> Timestamp? {
        isNull(column) ? nil : Timestamp(secondsSince1970: int64(column))
    }
}
