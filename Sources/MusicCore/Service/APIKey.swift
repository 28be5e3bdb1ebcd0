import Crypto

/// API keys: `ak_` + 40 characters of [A-Za-z0-9]. Only the SHA-256 of a key is
/// stored; the raw key is shown once, when it is created.
package enum APIKey {
    package static let prefix = "ak_"
    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789".utf8)

    /// A new raw key (about 238 bits of randomness).
    package static func generate() -> String {
        var generator = SystemRandomNumberGenerator()
        var bytes = Array(prefix.utf8)
        for _ in 0..<40 {
            // 62 does not divide 2^64 evenly; rejection keeps the draw uniform.
            var value: UInt64
            repeat { value = generator.next() } while value >= UInt64.max - (UInt64.max % 62)
            bytes.append(alphabet[Int(value % 62)])
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    package static func isWellFormed(_ key: String) -> Bool {
        guard key.utf8.count == 43 else { return false }
        var key = key
        return key.withUTF8 { bytes in
            bytes[0] == UInt8(ascii: "a") && bytes[1] == UInt8(ascii: "k") && bytes[2] == UInt8(ascii: "_")
                && bytes[3...].allSatisfy { byte in
                    (byte >= 48 && byte <= 57) || (byte >= 65 && byte <= 90) || (byte >= 97 && byte <= 122)
                }
        }
    }

    /// Lowercase hex SHA-256 of the raw key: what the store keeps.
    package static func hash(_ key: String) -> String {
        sha256Hex(Array(key.utf8))
    }

    /// Lowercase hex SHA-256 of any bytes (keys, tokens, request bodies).
    package static func sha256Hex(_ bytes: [UInt8]) -> String {
        let digest = SHA256.hash(data: bytes)
        let hex = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(64)
        for byte in digest {
            out.append(hex[Int(byte >> 4)])
            out.append(hex[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Compares two hashes (or keys) in time independent of where they differ,
    /// without copying them: it runs on every request.
    package static func constantTimeEquals(_ a: String, _ b: String) -> Bool {
        guard a.utf8.count == b.utf8.count else { return false }
        func differs<Left: Sequence<UInt8>, Right: Sequence<UInt8>>(_ left: Left, _ right: Right) -> Bool {
            var difference: UInt8 = 0
            for (l, r) in zip(left, right) { difference |= l ^ r }
            return difference != 0
        }
        // Native strings are contiguous UTF-8: compare the buffers, not the views' iterators.
        let inPlace = a.utf8.withContiguousStorageIfAvailable { left in
            b.utf8.withContiguousStorageIfAvailable { right in differs(left, right) }
        }
        return !((inPlace ?? nil) ?? differs(a.utf8, b.utf8))
    }
}
