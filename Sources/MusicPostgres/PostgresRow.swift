import CLibPQ
import Foundation
import MusicCore

/// One row of a result, read in place (text format).
struct PostgresRow: StoreRow {
    let result: OpaquePointer
    let row: Int32

    func isNull(_ column: Int32) -> Bool { PQgetisnull(result, row, column) == 1 }

    func string(_ column: Int32) -> String {
        withUTF8(column) { String(decoding: $0, as: UTF8.self) }
    }

    func withUTF8<Result>(_ column: Int32, _ body: (UnsafeBufferPointer<UInt8>) throws -> Result) rethrows -> Result {
        let length = Int(PQgetlength(result, row, column))
        return try PQgetvalue(result, row, column).withMemoryRebound(to: UInt8.self, capacity: length) { pointer in
            try body(UnsafeBufferPointer(start: pointer, count: length))
        }
    }

    func int64(_ column: Int32) -> Int64 { strtoll(PQgetvalue(result, row, column), nil, 10) }
    func double(_ column: Int32) -> Double { strtod(PQgetvalue(result, row, column), nil) }
    func bool(_ column: Int32) -> Bool { PQgetvalue(result, row, column).pointee == CChar(UInt8(ascii: "t")) }

    /// A `bytea` column in hex text format (`\x4142...`).
    func bytes(_ column: Int32) -> [UInt8] {
        let length = Int(PQgetlength(result, row, column))
        return PQgetvalue(result, row, column).withMemoryRebound(to: UInt8.self, capacity: length) { pointer in
            guard length >= 2 else { return [] }
            func nibble(_ c: UInt8) -> UInt8 { c <= UInt8(ascii: "9") ? c &- UInt8(ascii: "0") : (c | 0x20) &- UInt8(ascii: "a") &+ 10 }
            var bytes: [UInt8] = []
            bytes.reserveCapacity((length - 2) / 2)
            var index = 2
            while index + 1 < length {
                bytes.append(nibble(pointer[index]) << 4 | nibble(pointer[index + 1]))
                index += 2
            }
            return bytes
        }
    }
}
