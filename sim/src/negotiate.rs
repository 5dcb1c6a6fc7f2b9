//! Content negotiation from the `Accept` header: plain JSON, `meta.k8s.io` Table,
//! PartialObjectMetadata(List), or aggregated discovery.

/// What shape the client asked the response to take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    Json,
    Table,
    PartialObjectMetadata,
    PartialObjectMetadataList,
    /// Aggregated discovery; the payload is the apiVersion to answer with.
    Aggregated(&'static str),
}

/// The Content-Type the apiserver answers Table requests with.
pub const TABLE_CONTENT_TYPE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io";

struct MediaRange<'a> {
    essence: &'a str,
    params: Vec<(&'a str, &'a str)>,
}

fn parse(accept: &str) -> Vec<MediaRange<'_>> {
    accept
        .split(',')
        .map(|part| {
            let mut it = part.split(';');
            let essence = it.next().unwrap_or("").trim();
            let params = it
                .filter_map(|p| p.split_once('='))
                .map(|(k, v)| (k.trim(), v.trim().trim_matches('"')))
                .collect();
            MediaRange { essence, params }
        })
        .collect()
}

/// Picks the first acceptable media range in the client's order.
pub fn negotiate(accept: Option<&str>) -> Output {
    let Some(accept) = accept else {
        return Output::Json;
    };
    for m in parse(accept) {
        let p = |k: &str| m.params.iter().find(|(pk, _)| *pk == k).map(|(_, v)| *v);
        let json_like = matches!(
            m.essence,
            "application/json" | "*/*" | "application/*" | "application/yaml"
        );
        if !json_like {
            continue;
        }
        match (p("as"), p("g"), p("v")) {
            (None, _, _) => return Output::Json,
            (Some("Table"), Some("meta.k8s.io"), Some("v1" | "v1beta1")) => return Output::Table,
            (Some("PartialObjectMetadata"), Some("meta.k8s.io"), Some("v1" | "v1beta1")) => {
                return Output::PartialObjectMetadata
            }
            (Some("PartialObjectMetadataList"), Some("meta.k8s.io"), Some("v1" | "v1beta1")) => {
                return Output::PartialObjectMetadataList
            }
            (Some("APIGroupDiscoveryList"), Some("apidiscovery.k8s.io"), Some("v2")) => {
                return Output::Aggregated("apidiscovery.k8s.io/v2")
            }
            (Some("APIGroupDiscoveryList"), Some("apidiscovery.k8s.io"), Some("v2beta1")) => {
                return Output::Aggregated("apidiscovery.k8s.io/v2beta1")
            }
            _ => continue,
        }
    }
    // Only protobuf (or unknown) offered: answer JSON, clients decode by Content-Type.
    Output::Json
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubectl_accept_headers() {
        let get = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
        assert_eq!(negotiate(Some(get)), Output::Table);
        let disc = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
        assert_eq!(
            negotiate(Some(disc)),
            Output::Aggregated("apidiscovery.k8s.io/v2")
        );
        assert_eq!(negotiate(Some("application/json")), Output::Json);
        assert_eq!(negotiate(None), Output::Json);
        assert_eq!(
            negotiate(Some(
                "application/vnd.kubernetes.protobuf, application/json"
            )),
            Output::Json
        );
        assert_eq!(
            negotiate(Some(
                "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
            )),
            Output::PartialObjectMetadataList
        );
        // Unknown "as" falls through to the next range.
        assert_eq!(
            negotiate(Some("application/json;as=Foo;g=x;v=v1, application/json")),
            Output::Json
        );
    }
}
