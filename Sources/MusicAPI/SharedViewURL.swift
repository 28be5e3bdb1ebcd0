extension MusicAPI {
    /// The absolute URL of a shared view: the configured public base URL, never
    /// the client's Host header.
    func sharedViewURL(token: String) -> String {
        publicURL + "/v1/music/shared/" + token
    }
}
