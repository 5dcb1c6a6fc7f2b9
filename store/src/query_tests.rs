use super::*;
use proptest::prelude::*;

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-01T12:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

#[test]
fn parses_the_everyday_search() {
    let q = Query::parse(
        r#"user=david since=1h "rm -rf" tag:ClusterType=prod"#,
        now(),
    )
    .unwrap();
    assert_eq!(q.fields, vec![(Field::User, "david".to_string())]);
    assert_eq!(q.tags, vec![("ClusterType".into(), "prod".into())]);
    assert_eq!(q.since, Some(now() - Duration::hours(1)));
    assert_eq!(q.until, None);
    assert_eq!(q.text, vec!["rm -rf".to_string()]);
}

#[test]
fn aliases_and_all_keys() {
    let q = Query::parse(
        "ns=kube-system namespace=x cluster=prod verb=delete resource=pods name=web-1 \
         decision=denied code=403 group=dev apigroup=apps session=s1 id=e1 kind=api",
        now(),
    )
    .unwrap();
    let keys: Vec<Field> = q.fields.iter().map(|(f, _)| *f).collect();
    assert_eq!(
        keys,
        vec![
            Field::Namespace,
            Field::Namespace,
            Field::Cluster,
            Field::Verb,
            Field::Resource,
            Field::Name,
            Field::Decision,
            Field::Code,
            Field::Group,
            Field::ApiGroup,
            Field::Session,
            Field::Id,
            Field::Kind
        ]
    );
    assert_eq!(q.fields[0].1, "kube-system");
}

#[test]
fn rejects_bad_input() {
    assert_eq!(
        Query::parse("user=", now()),
        Err(QueryError::EmptyValue("user".into()))
    );
    assert!(matches!(
        Query::parse("colour=red", now()),
        Err(QueryError::UnknownKey(k)) if k == "colour"
    ));
    assert!(matches!(
        Query::parse("code=abc", now()),
        Err(QueryError::BadValue { .. })
    ));
    assert!(matches!(
        Query::parse("decision=maybe", now()),
        Err(QueryError::BadValue { .. })
    ));
    assert!(matches!(
        Query::parse("since=yesterday", now()),
        Err(QueryError::BadValue { .. })
    ));
    assert_eq!(
        Query::parse(r#"user=a "open"#, now()),
        Err(QueryError::UnterminatedQuote(7))
    );
    assert!(matches!(
        Query::parse("tag:=x", now()),
        Err(QueryError::EmptyValue(_))
    ));
}

#[test]
fn times_durations_and_dates() {
    let q = Query::parse("since=2026-02-01T00:00:00Z until=2026-02-02", now()).unwrap();
    assert_eq!(q.since.unwrap().to_rfc3339(), "2026-02-01T00:00:00+00:00");
    assert_eq!(q.until.unwrap().to_rfc3339(), "2026-02-02T00:00:00+00:00");
    assert_eq!(parse_duration("1h30m").unwrap(), Duration::minutes(90));
    assert_eq!(parse_duration("90d").unwrap(), Duration::days(90));
    assert_eq!(parse_duration("2w").unwrap(), Duration::days(14));
    assert!(parse_duration("10").is_err());
    assert!(parse_duration("h").is_err());
    assert!(parse_duration("99999999999999999999d").is_err());
}

#[test]
fn quoting() {
    let q = Query::parse(r#"name="a b" 'it''s' "say \"hi\"" x"#, now()).unwrap();
    assert_eq!(q.fields, vec![(Field::Name, "a b".to_string())]);
    assert_eq!(
        q.text,
        vec!["its".to_string(), "say \"hi\"".to_string(), "x".to_string()]
    );
}

#[test]
fn from_args_treats_spaced_args_as_text() {
    let q = Query::from_args(&["user=david", "rm -rf", "a=b c"], now()).unwrap();
    assert_eq!(q.fields, vec![(Field::User, "david".to_string())]);
    assert_eq!(q.text, vec!["rm -rf".to_string(), "a=b c".to_string()]);
}

fn key() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "user", "cluster", "verb", "resource", "ns", "name", "decision", "code", "group",
        "session", "id", "apigroup",
    ])
}

proptest! {
    #[test]
    fn fuzz_target_never_panics(s in ".{0,200}") {
        fuzz_parse_query(&s);
    }

    #[test]
    fn quoted_values_round_trip(k in key(), v in "[a-zA-Z0-9 ._:/-]{1,30}") {
        let v = if k == "code" { "404".to_string() } else if k == "decision" { "denied".to_string() } else { v };
        let line = format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""));
        let q = Query::parse(&line, now()).unwrap();
        prop_assert_eq!(q.fields.len(), 1);
        prop_assert_eq!(&q.fields[0].1, &v);
        prop_assert_eq!(Some(q.fields[0].0), Field::from_key(k));
    }

    #[test]
    fn free_text_survives_quoting(t in "[a-z -]{1,30}") {
        prop_assume!(!t.trim().is_empty());
        let q = Query::parse(&format!("\"{t}\""), now()).unwrap();
        prop_assert_eq!(q.text, vec![t]);
    }
}
