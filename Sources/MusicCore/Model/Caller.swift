/// The authenticated caller of one request, allowed in one organization.
package struct Caller: Equatable, Sendable {
    package var userID: String
    package var organizationID: String

    package init(userID: String, organizationID: String) {
        self.userID = userID
        self.organizationID = organizationID
    }
}
