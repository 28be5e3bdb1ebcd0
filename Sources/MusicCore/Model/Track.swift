/// A generated track. Tracks are made elsewhere; this service only groups them.
public struct Track: Equatable, Sendable {
    /// The licence version of tracks stored before versions were recorded.
    public static let defaultLicenceVersion = "1.0"

    public var id: String
    public var organizationID: String
    public var ownerID: String
    public var title: String
    public var engine: String
    public var mode: String
    public var measuredDurationSeconds: Double?
    public var instrumental: Bool
    public var mimeType: String
    public var licenceClass: String
    /// The version of the licence terms the track was generated under.
    public var licenceVersion: String
    public var createdAt: Timestamp
    public var deletedAt: Timestamp?

    public init(
        id: String, organizationID: String, ownerID: String, title: String,
        engine: String = "studio-v1", mode: String = "text_to_music",
        measuredDurationSeconds: Double? = nil, instrumental: Bool = false,
        mimeType: String = "audio/mpeg", licenceClass: String = "standard",
        licenceVersion: String = Track.defaultLicenceVersion, createdAt: Timestamp, deletedAt: Timestamp? = nil
    ) {
        self.id = id
        self.organizationID = organizationID
        self.ownerID = ownerID
        self.title = title
        self.engine = engine
        self.mode = mode
        self.measuredDurationSeconds = measuredDurationSeconds
        self.instrumental = instrumental
        self.mimeType = mimeType
        self.licenceClass = licenceClass
        self.licenceVersion = licenceVersion
        self.createdAt = createdAt
        self.deletedAt = deletedAt
    }

    /// Whether the licence class allows commercial use (decided here: every
    /// class but `personal` and `non_commercial`).
    public var commercialUse: Bool {
        !["personal", "non_commercial"].contains(licenceClass)
    }

    /// Whether the licence class asks for attribution (decided here:
    /// `attribution` and `cc_by`).
    public var requiresAttribution: Bool {
        ["attribution", "cc_by"].contains(licenceClass)
    }
}
