import Foundation
import MusicCore

/// A request body parsed as a JSON object, with typed field access that turns
/// every wrong shape into a 422 naming the field.
struct JSONBody {
    private let object: [String: Any]

    /// Parses `bytes`; anything but a JSON object is a 422 on `body`.
    init(_ bytes: [UInt8]) throws(MusicError) {
        guard !bytes.isEmpty else {
            throw .validation(field: "body", reason: "request body must be a JSON object")
        }
        let parsed: Any
        do {
            parsed = try JSONSerialization.jsonObject(with: Data(bytes), options: [])
        } catch {
            throw .validation(field: "body", reason: "request body is not valid JSON")
        }
        guard let object = parsed as? [String: Any] else {
            throw .validation(field: "body", reason: "request body must be a JSON object")
        }
        self.object = object
    }

    /// A required string.
    func requiredString(_ field: String) throws(MusicError) -> String {
        guard let value = object[field], !(value is NSNull) else {
            throw .validation(field: field, reason: "\(field) is required")
        }
        guard let string = value as? String else {
            throw .validation(field: field, reason: "\(field) must be a string")
        }
        return string
    }

    /// An optional string: absent or `null` give `nil`.
    func optionalString(_ field: String) throws(MusicError) -> String? {
        switch try update(field) {
        case .keep, .clear: return nil
        case .set(let value): return value
        }
    }

    /// A string field of a partial update: absent, `null`, or a string.
    func update(_ field: String) throws(MusicError) -> FieldUpdate<String> {
        guard let value = object[field] else { return .keep }
        if value is NSNull { return .clear }
        guard let string = value as? String else {
            throw .validation(field: field, reason: "\(field) must be a string or null")
        }
        return .set(string)
    }

    /// An optional integer: absent or `null` give `nil`; fractions, booleans,
    /// strings and numbers out of range are a 422.
    func optionalInteger(_ field: String) throws(MusicError) -> Int? {
        guard let value = object[field], !(value is NSNull) else { return nil }
        // JSONSerialization gives booleans as NSNumber too: their type encoding is "c".
        guard let number = value as? NSNumber, String(cString: number.objCType) != "c",
              case let double = number.doubleValue, double.rounded() == double, abs(double) < 1e15 else {
            throw .validation(field: field, reason: "\(field) must be an integer")
        }
        return Int(double)
    }

    /// A required array of strings.
    func requiredStringArray(_ field: String) throws(MusicError) -> [String] {
        guard let value = object[field], !(value is NSNull) else {
            throw .validation(field: field, reason: "\(field) is required")
        }
        guard let array = value as? [Any] else {
            throw .validation(field: field, reason: "\(field) must be an array of track ids")
        }
        var strings: [String] = []
        strings.reserveCapacity(array.count)
        for element in array {
            guard let string = element as? String else {
                throw .validation(field: field, reason: "\(field) must contain only strings")
            }
            strings.append(string)
        }
        return strings
    }
}
