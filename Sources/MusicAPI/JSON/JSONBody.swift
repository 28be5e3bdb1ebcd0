import MusicCore

/// A request body parsed as a JSON object, with typed field access that turns
/// every wrong shape into a 422 naming the field.
struct JSONBody {
    private let object: [String: JSONValue]

    /// Parses `bytes`; anything but a JSON object is a 422 on `body`.
    init(_ bytes: [UInt8]) throws(MusicError) {
        guard !bytes.isEmpty else {
            throw .validation(field: "body", reason: "request body must be a JSON object")
        }
        guard let parsed = JSONValue.parse(bytes) else {
            throw .validation(field: "body", reason: "request body is not valid JSON")
        }
        guard case .object(let object) = parsed else {
            throw .validation(field: "body", reason: "request body must be a JSON object")
        }
        self.object = object
    }

    /// A required string.
    func requiredString(_ field: String) throws(MusicError) -> String {
        switch object[field] {
        case nil, .null?: throw .validation(field: field, reason: "\(field) is required")
        case .string(let string)?: return string
        default: throw .validation(field: field, reason: "\(field) must be a string")
        }
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
        switch object[field] {
        case nil: return .keep
        case .null?: return .clear
        case .string(let string)?: return .set(string)
        default: throw .validation(field: field, reason: "\(field) must be a string or null")
        }
    }

    /// An optional integer: absent or `null` give `nil`; fractions, booleans,
    /// strings and numbers out of range are a 422.
    func optionalInteger(_ field: String) throws(MusicError) -> Int? {
        switch object[field] {
        case nil, .null?: return nil
        case .number(let number)? where number.rounded() == number && abs(number) < 1e15: return Int(number)
        default: throw .validation(field: field, reason: "\(field) must be an integer")
        }
    }

    /// An optional integer of any size JSON carries (a number without a
    /// fraction, as JSON Schema's `integer`), for a field whose rule clamps it:
    /// beyond `Int`'s range it saturates at `Int.min` or `Int.max`.
    func optionalSaturatingInteger(_ field: String) throws(MusicError) -> Int? {
        switch object[field] {
        case nil, .null?: return nil
        case .number(let number)? where number.rounded() == number:
            // -2^63 is an Int; 2^63 is the first Double above Int.max.
            return number >= 0x1p63 ? .max : number < -0x1p63 ? .min : Int(number)
        default: throw .validation(field: field, reason: "\(field) must be an integer")
        }
    }

    /// A required array of strings.
    func requiredStringArray(_ field: String) throws(MusicError) -> [String] {
        let elements: [JSONValue]
        switch object[field] {
        case nil, .null?: throw .validation(field: field, reason: "\(field) is required")
        case .array(let array)?: elements = array
        default: throw .validation(field: field, reason: "\(field) must be an array of track ids")
        }
        var strings: [String] = []
        strings.reserveCapacity(elements.count)
        for element in elements {
            guard case .string(let string) = element else {
                throw .validation(field: field, reason: "\(field) must contain only strings")
            }
            strings.append(string)
        }
        return strings
    }
}
