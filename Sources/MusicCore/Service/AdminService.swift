/// What `music-admin` does: organizations, users, keys, tracks and demo data.
package struct AdminService: Sendable {
    let store: any Store
    let clock: any WallClock

    package init(store: any Store, clock: any WallClock = SystemClock()) {
        self.store = store
        self.clock = clock
    }

    package enum AdminError: Error, Equatable, CustomStringConvertible {
        case notFound(String)
        case invalid(String)

        package var description: String {
            switch self {
            case .notFound(let what): return "\(what) not found"
            case .invalid(let why): return why
            }
        }
    }

    package func createOrganization(name: String) throws -> Organization {
        guard !name.isEmpty, name.unicodeScalars.count <= 200 else { throw AdminError.invalid("--name must be 1-200 characters") }
        let organization = Organization(id: Identifier.make(Identifier.organization), name: name, createdAt: clock.now())
        try store.write { try $0.insert(organization) }
        return organization
    }

    /// Creates a user and makes them a member of `organizationID` with `capabilities`.
    package func createUser(email: String, organizationID: String, capabilities: Set<Capability>) throws -> User {
        guard email.contains("@"), email.unicodeScalars.count <= 320 else { throw AdminError.invalid("--email must be an e-mail address") }
        let user = User(id: Identifier.make(Identifier.user), email: email, createdAt: clock.now())
        try store.write { writer in
            guard try writer.organization(id: organizationID) != nil else { throw AdminError.notFound("organization \(organizationID)") }
            try writer.insert(user)
            try writer.upsert(Membership(organizationID: organizationID, userID: user.id, capabilities: capabilities))
        }
        return user
    }

    /// What `addMember` did.
    package enum MemberChange: String, Sendable {
        /// The user was not a member and now is.
        case added
        /// The user was a member: the capabilities are now exactly the ones given.
        case updated
    }

    /// Makes an existing user a member of an existing organization with exactly
    /// `capabilities`. A user already a member keeps the membership, whose
    /// capabilities are replaced (so `member add` also changes them); the answer
    /// says which happened and what the capabilities were.
    package func addMember(userID: String, organizationID: String, capabilities: Set<Capability>) throws
        -> (change: MemberChange, previous: Set<Capability>?) {
        try store.write { writer in
            guard try writer.organization(id: organizationID) != nil else { throw AdminError.notFound("organization \(organizationID)") }
            guard try writer.user(id: userID) != nil else { throw AdminError.notFound("user \(userID)") }
            let previous = try writer.membership(userID: userID, organizationID: organizationID)?.capabilities
            try writer.upsert(Membership(organizationID: organizationID, userID: userID, capabilities: capabilities))
            return (previous == nil ? .added : .updated, previous)
        }
    }

    /// Ends a user's membership of an organization: their keys no longer open it.
    package func removeMember(userID: String, organizationID: String) throws {
        try store.write { writer in
            guard try writer.organization(id: organizationID) != nil else { throw AdminError.notFound("organization \(organizationID)") }
            guard try writer.user(id: userID) != nil else { throw AdminError.notFound("user \(userID)") }
            guard try writer.removeMembership(userID: userID, organizationID: organizationID) else {
                throw AdminError.notFound("member \(userID) of organization \(organizationID)")
            }
        }
    }

    /// Creates a key for `userID`; the raw key is returned once and never stored.
    package func createAPIKey(userID: String) throws -> (record: APIKeyRecord, rawKey: String) {
        let raw = APIKey.generate()
        let record = APIKeyRecord(id: Identifier.make(Identifier.apiKey), userID: userID, hash: APIKey.hash(raw), active: true, createdAt: clock.now())
        try store.write { writer in
            guard try writer.user(id: userID) != nil else { throw AdminError.notFound("user \(userID)") }
            try writer.insert(record)
        }
        return (record, raw)
    }

    package func revokeAPIKey(id: String) throws {
        try store.write { writer in
            guard try writer.deactivateAPIKey(id: id) else { throw AdminError.notFound("API key \(id)") }
        }
    }

    /// The fields of a track to create; the id and timestamps are assigned here.
    package struct TrackDraft: Equatable, Sendable {
        package var title: String
        package var durationSeconds: Double?
        package var instrumental: Bool
        package var licenceClass: String
        package var engine: String
        package var mode: String
        package var mimeType: String
        package var licenceVersion: String

        package init(title: String, durationSeconds: Double? = nil, instrumental: Bool = false, licenceClass: String = "standard",
                    engine: String = "studio-v1", mode: String = "text_to_music", mimeType: String = "audio/mpeg",
                    licenceVersion: String = Track.defaultLicenceVersion) {
            self.title = title
            self.durationSeconds = durationSeconds
            self.instrumental = instrumental
            self.licenceClass = licenceClass
            self.engine = engine
            self.mode = mode
            self.mimeType = mimeType
            self.licenceVersion = licenceVersion
        }

        /// The rules a track must meet; the reason names the field.
        package func check() throws(AdminError) {
            guard !title.isEmpty, title.unicodeScalars.count <= 512 else { throw .invalid("title must be 1-512 characters") }
            if let seconds = durationSeconds, !(seconds.isFinite && seconds >= 0 && seconds <= 86_400) {
                throw .invalid("duration must be between 0 and 86400 seconds")
            }
            for (name, value) in [("licence_class", licenceClass), ("licence_version", licenceVersion), ("engine", engine), ("mode", mode),
                                 ("mime_type", mimeType)]
            where value.isEmpty || value.unicodeScalars.count > 100 {
                throw .invalid("\(name) must be 1-100 characters")
            }
        }
    }

    /// Creates tracks owned by `ownerID` in one transaction: all or none.
    /// `progress` is called after each insert with the count done.
    package func createTracks(_ drafts: [TrackDraft], organizationID: String, ownerID: String,
                             progress: (Int) -> Void = { _ in }) throws -> [Track] {
        for draft in drafts { try draft.check() }
        let now = clock.now()
        return try store.write { writer in
            guard try writer.organization(id: organizationID) != nil else { throw AdminError.notFound("organization \(organizationID)") }
            guard try writer.membership(userID: ownerID, organizationID: organizationID) != nil else {
                throw AdminError.notFound("member \(ownerID) of organization \(organizationID)")
            }
            var tracks: [Track] = []
            tracks.reserveCapacity(drafts.count)
            for draft in drafts {
                let track = Track(
                    id: Identifier.make(Identifier.track), organizationID: organizationID, ownerID: ownerID,
                    title: draft.title, engine: draft.engine, mode: draft.mode,
                    measuredDurationSeconds: draft.durationSeconds, instrumental: draft.instrumental,
                    mimeType: draft.mimeType, licenceClass: draft.licenceClass, licenceVersion: draft.licenceVersion,
                    createdAt: now
                )
                try writer.insert(track)
                tracks.append(track)
                progress(tracks.count)
            }
            return tracks
        }
    }

    /// Deletes a track: it disappears from every listing, count and share view.
    /// The row stays (soft delete); it leaves every collection that held it,
    /// whose positions close up and whose version and `updated_at` move.
    package func deleteTrack(id: String) throws -> Int {
        let now = clock.now()
        return try store.write { writer in
            guard try writer.markTrackDeleted(id: id, at: now) else { throw AdminError.notFound("track \(id)") }
            let holders = try writer.collectionIDs(containing: id)
            for collectionID in holders {
                guard var collection = try writer.anyCollection(id: collectionID),
                      let position = try writer.memberPosition(collectionID: collectionID, trackID: id) else { continue }
                try writer.removeMember(collectionID: collectionID, trackID: id, position: position)
                collection.trackCount -= 1
                collection.version += 1
                collection.updatedAt = now
                try writer.update(collection)
            }
            return holders.count
        }
    }

    /// What `demo` made.
    package struct Demo: Sendable {
        package var organization: Organization
        package var user: User
        package var keyID: String
        package var rawKey: String
        package var tracks: [Track]
    }

    /// One organization, a user holding USE_MUSIC_GENERATION, an API key and 10 tracks.
    package func createDemo() throws -> Demo {
        let organization = try createOrganization(name: "Demo Studio")
        let user = try createUser(email: "demo-\(organization.id)@example.com", organizationID: organization.id, capabilities: [.useMusicGeneration])
        let (record, raw) = try createAPIKey(userID: user.id)
        let titles = ["Morning Focus", "Deep Work", "Night Drive", "Rain Study", "Coastal Drift",
                      "Quiet Hours", "Slow Orbit", "Warm Static", "Lantern Light", "First Snow"]
        let drafts = titles.enumerated().map { index, title in
            TrackDraft(title: title, durationSeconds: Double(120 + 15 * index), instrumental: index % 2 == 0)
        }
        let tracks = try createTracks(drafts, organizationID: organization.id, ownerID: user.id)
        return Demo(organization: organization, user: user, keyID: record.id, rawKey: raw, tracks: tracks)
    }
}
