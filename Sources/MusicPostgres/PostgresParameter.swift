import CLibPQ
import Foundation
import MusicCore

/// A value sent as a statement parameter, in PostgreSQL's text format.
protocol PostgresParameter {
    var postgresText: String { get }
}

extension String: PostgresParameter { var postgresText: String { self } }

extension Int: PostgresParameter { var postgresText: String { String(self) } }

extension Int64: PostgresParameter { var postgresText: String { String(self) } }

extension Double: PostgresParameter { var postgresText: String { "\(self)" } }

extension Bool: PostgresParameter { var postgresText: String { self ? "true" : "false" } }

extension Timestamp: PostgresParameter { var postgresText: String { String(secondsSince1970) } }

/// Bytes for a `bytea` column (hex text format).
struct PostgresBytes: PostgresParameter {
    let bytes: [UInt8]
    var postgresText: String {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = Array(#"\x"#.utf8)
        text.reserveCapacity(2 + bytes.count * 2)
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: text, as: UTF8.self)
    }
}

/// A `text[]` parameter: every element quoted, so any string is carried verbatim.
struct PostgresTextArray: PostgresParameter {
    let elements: [String]
    var postgresText: String {
        var text = "{"
        for (index, element) in elements.enumerated() {
            if index > 0 { text += "," }
            text += "\""
            for character in element {
                if character == "\"" || character == "\\" { text += "\\" }
                text.append(character)
            }
            text += "\""
        }
        return text + "}"
    }
}
