// Placeholder so the workspace manifest parses; the store engineer replaces it.
fn main() {}
