//! Why a request could not be attributed.
//!
//! Every variant is a client error: the proxy answers it with a Kubernetes
//! `Status` of reason `BadRequest` (HTTP 400) and audits the refusal. The
//! variants are deliberately specific so the audit log says *which* trick
//! was refused.

use http::StatusCode;

/// A request KAC refuses to attribute, because the apiserver would read it
/// differently from what a simple reading suggests, or because it is
/// malformed. Refusing is always safe: the request never reaches a cluster.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttributionError {
    /// The request target is not an absolute path (`*`, empty, ...).
    #[error("request path {path:?} does not start with '/'")]
    NotAbsolutePath { path: String },
    /// `//` somewhere, or more than one trailing slash: the apiserver trims
    /// and splits such paths in ways routers disagree about.
    #[error("request path {path:?} has an empty segment ('//')")]
    EmptySegment { path: String },
    /// A `.` or `..` segment, or a segment containing `..`: the apiserver does
    /// not resolve dot segments, but other hops may.
    #[error("request path {path:?} has a dot segment ('.' or '..')")]
    DotSegment { path: String },
    /// A byte that must not appear raw in a path segment (space, `#`, `\`,
    /// `;` path parameters, control or non-ASCII bytes, ...).
    #[error("request path {path:?} contains the forbidden character {character:?}")]
    ForbiddenCharacter { path: String, character: char },
    /// A `%` not followed by two hex digits.
    #[error("request path or query has a malformed percent-escape near {near:?}")]
    MalformedEscape { near: String },
    /// A percent-escape KAC refuses in a path: `%2F` (`/`), `%2E` (`.`),
    /// `%25` (`%`, double encoding), `%5C` (`\`), `%3B` (`;`), control bytes.
    #[error("request path {path:?} contains the forbidden escape {escape:?}")]
    ForbiddenEscape { path: String, escape: String },
    /// Percent-escapes that decode to bytes that are not UTF-8.
    #[error("request path or query decodes to bytes that are not UTF-8")]
    NotUtf8,
    /// A method the apiserver maps to no verb (OPTIONS, CONNECT, extension
    /// methods on a resource path) would be authorized with an empty verb.
    #[error("HTTP method {method} has no Kubernetes verb for {path:?}")]
    UnsupportedMethod { method: String, path: String },
    /// `/api/v1/watch` or `/api/v1/proxy` with nothing after it: the
    /// apiserver itself fails to attribute these.
    #[error("request path {path:?} names the {verb} verb but no resource")]
    MissingResource { path: String, verb: String },
    /// `;` in the query: Go drops such pairs silently, other parsers do not.
    #[error("query contains ';', which the apiserver ignores and others do not")]
    QuerySemicolon,
    /// A parameter name that is empty or percent/plus-encoded
    /// (`w%61tch=true`): names must be literal.
    #[error("query parameter name {name:?} is empty or encoded")]
    EncodedParameterName { name: String },
    /// A raw byte that has no business in a query string.
    #[error("query contains the forbidden character {character:?}")]
    ForbiddenQueryCharacter { character: char },
    /// `watch` or `fieldSelector` given more than once: the apiserver uses
    /// the first, other components may use the last.
    #[error("query parameter {name:?} is repeated")]
    RepeatedParameter { name: String },
    /// `watch` with a value other than true/false/1/0 (any case): the
    /// apiserver treats anything but false/0 as true, even `watch=no`.
    #[error("query parameter watch={value:?} is not one of true, false, 1, 0")]
    InvalidWatch { value: String },
    /// A `fieldSelector` that does not parse, or that names `metadata.name`
    /// in any way other than one `=`/`==` term with a valid name.
    #[error("fieldSelector {selector:?} is refused: {reason}")]
    FieldSelector { selector: String, reason: String },
    /// A list/watch parameter the apiserver would fail to decode while a
    /// fieldSelector names an object: the apiserver would then drop the name.
    #[error("query parameter {name}={value:?} is not an integer")]
    InvalidListOption { name: String, value: String },
}

impl AttributionError {
    /// The HTTP status the proxy answers with: always 400 Bad Request.
    pub fn status_code(&self) -> StatusCode {
        StatusCode::BAD_REQUEST
    }

    /// The Kubernetes `Status.reason` for the answer.
    pub fn status_reason(&self) -> &'static str {
        "BadRequest"
    }
}
