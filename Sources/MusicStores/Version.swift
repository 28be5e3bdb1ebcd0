/// The version both executables print for `--version`. A plain `swift build` says
/// "development"; deploy/package writes the package's version (deploy/version) into
/// this line for its build and puts the file back afterwards.
public let musicCollectionsVersion = "development"
