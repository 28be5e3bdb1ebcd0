import ArgumentParser
import Foundation
import MusicCore

struct TrackCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "track", abstract: "Tracks.", subcommands: [Create.self, Import.self, Delete.self])

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create one track.")
        @OptionGroup var options: CommonOptions
        @Option(help: "The organization id (org_...).") var org: String
        @Option(help: "The owning user id (usr_...).") var owner: String
        @Option(help: "The title.") var title: String
        @Option(help: "Measured duration in seconds.") var duration: Double?
        @Flag(help: "The track has no vocals.") var instrumental = false
        @Option(help: "Licence class.") var licenceClass: String = "standard"
        @Option(help: "The version of the licence terms the track was generated under (shown in share views).")
        var licenceVersion: String = Track.defaultLicenceVersion

        func run() throws {
            let draft = AdminService.TrackDraft(title: title, durationSeconds: duration, instrumental: instrumental,
                                                licenceClass: licenceClass, licenceVersion: licenceVersion)
            let track = try AdminService(store: options.openStore()).createTracks([draft], organizationID: org, ownerID: owner)[0]
            try options.report([("id", track.id), ("title", track.title), ("organization_id", org),
                                ("licence_version", track.licenceVersion)])
        }
    }

    struct Delete: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete a track: it leaves every collection, listing, count and share view."
        )
        @OptionGroup var options: CommonOptions
        @Argument(help: "The track id (mtrack_...).") var trackID: String

        func run() throws {
            let collections = try AdminService(store: options.openStore()).deleteTrack(id: trackID)
            try options.report([("id", trackID), ("deleted", true), ("collections_updated", collections)])
        }
    }

    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Import tracks from a JSON Lines file, all or none.",
            discussion: """
                One JSON object per line: {"title": "...", "duration": 181.5, "instrumental": true,
                "licence_class": "standard", "licence_version": "1.0", "engine": "...", "mode": "...",
                "mime_type": "..."};
                only title is required. Blank lines are skipped. A bad line stops the import
                before anything is written, naming the line.
                """
        )
        @OptionGroup var options: CommonOptions
        @Option(help: "The organization id (org_...).") var org: String
        @Option(help: "The owning user id (usr_...).") var owner: String
        @Argument(help: "The JSON Lines file.") var file: String

        func run() throws {
            guard let data = FileManager.default.contents(atPath: file) else { throw ValidationError("cannot read \(file)") }
            let drafts = try Self.parse(data)
            let store = try options.openStore()
            let bar = ProgressBar(total: drafts.count)
            let tracks = try AdminService(store: store).createTracks(drafts, organizationID: org, ownerID: owner) { bar.update($0) }
            bar.finish()
            try options.report([("id", org), ("imported", tracks.count), ("first_track_id", tracks.first?.id ?? "")])
        }

        static func parse(_ data: Data) throws -> [AdminService.TrackDraft] {
            var drafts: [AdminService.TrackDraft] = []
            for (index, line) in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated() {
                let number = index + 1
                guard line.contains(where: { $0 != 32 && $0 != 9 && $0 != 13 }) else { continue }
                func fail(_ why: String) -> ValidationError { ValidationError("line \(number): \(why)") }
                guard let object = (try? JSONSerialization.jsonObject(with: Data(line))) as? [String: Any] else {
                    throw fail("not a JSON object")
                }
                guard let title = object["title"] as? String else { throw fail("title is required and must be a string") }
                func text(_ key: String, _ fallback: String) throws -> String {
                    guard let value = object[key], !(value is NSNull) else { return fallback }
                    guard let string = value as? String else { throw fail("\(key) must be a string") }
                    return string
                }
                var duration: Double?
                if let value = object["duration"], !(value is NSNull) {
                    guard let number = value as? NSNumber, !isJSONBoolean(number) else { throw fail("duration must be a number") }
                    duration = number.doubleValue
                }
                var instrumental = false
                if let value = object["instrumental"], !(value is NSNull) {
                    guard let flag = value as? NSNumber, isJSONBoolean(flag) else { throw fail("instrumental must be true or false") }
                    instrumental = flag.boolValue
                }
                let draft = AdminService.TrackDraft(
                    title: title, durationSeconds: duration, instrumental: instrumental,
                    licenceClass: try text("licence_class", "standard"), engine: try text("engine", "studio-v1"),
                    mode: try text("mode", "text_to_music"), mimeType: try text("mime_type", "audio/mpeg"),
                    licenceVersion: try text("licence_version", Track.defaultLicenceVersion)
                )
                do { try draft.check() } catch { throw fail("\(error)") }
                drafts.append(draft)
            }
            return drafts
        }
    }
}

/// JSONSerialization gives numbers and booleans alike as NSNumber (and `is Bool`
/// holds for 0 and 1): a boolean is the one whose type encoding is `c`.
private func isJSONBoolean(_ number: NSNumber) -> Bool {
    String(cString: number.objCType) == "c"
}
