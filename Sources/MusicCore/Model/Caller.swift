/// The authenticated caller of one request, allowed in one organization.
public struct Caller: Equatable, Sendable {
    public var userID: String
    public var organizationID: String

    public init(userID: String, organizationID: String) {
        self.userID = userID
        self.organizationID = organizationID
    }
}
