/// Share-link tokens: 32 random bytes (256 bits), URL-safe base64 without
/// padding (43 characters). Stored only as a SHA-256 hash, like API keys.
package enum ShareToken {
    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    package static func generate() -> String {
        var generator = SystemRandomNumberGenerator()
        var bytes: [UInt8] = []
        bytes.reserveCapacity(32)
        for _ in 0..<4 {
            let word = generator.next() as UInt64
            for shift in stride(from: 0, to: 64, by: 8) { bytes.append(UInt8((word >> UInt64(shift)) & 0xFF)) }
        }
        var out: [UInt8] = []
        out.reserveCapacity(43)
        var index = 0
        while index < bytes.count {
            let chunk = bytes[index..<min(index + 3, bytes.count)]
            var value: UInt32 = 0
            for byte in chunk { value = value << 8 | UInt32(byte) }
            value <<= UInt32(8 * (3 - chunk.count))
            let characters = chunk.count + 1
            for position in 0..<characters {
                out.append(alphabet[Int((value >> UInt32(18 - 6 * position)) & 0x3F)])
            }
            index += 3
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Whether `token` has the shape of a token (43 URL-safe base64 characters).
    package static func isWellFormed(_ token: String) -> Bool {
        token.utf8.count == 43 && token.utf8.allSatisfy { alphabet.contains($0) }
    }

    package static func hash(_ token: String) -> String { APIKey.hash(token) }
}
