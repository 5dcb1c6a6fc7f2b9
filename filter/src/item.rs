//! The few fields of an item, Table row or watch event the filter needs,
//! deserialized without building a DOM: serde skips everything else (while
//! still validating it as JSON).

use std::borrow::Cow;

use serde::Deserialize;

use crate::{FilterError, ObjectRef};

#[derive(Debug, Deserialize)]
pub(crate) struct Meta<'a> {
    #[serde(borrow, default)]
    pub name: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub namespace: Option<Cow<'a, str>>,
    #[serde(borrow, default, rename = "resourceVersion")]
    pub resource_version: Option<Cow<'a, str>>,
}

/// A list item or a row object: only `metadata` matters.
#[derive(Debug, Deserialize)]
pub(crate) struct Item<'a> {
    #[serde(borrow, default)]
    pub metadata: Option<Meta<'a>>,
}

/// A Table row: `object` is the identity; `cells` are never trusted for it.
#[derive(Debug, Deserialize)]
pub(crate) struct Row<'a> {
    #[serde(borrow, default)]
    pub object: Option<Item<'a>>,
}

/// The identity of an item, or why it has none.
pub(crate) fn identity<'a>(
    meta: Option<&'a Meta<'a>>,
    index: usize,
) -> Result<(Option<&'a str>, &'a str), FilterError> {
    let meta = meta.ok_or(FilterError::MissingIdentity { index })?;
    let name = meta
        .name
        .as_deref()
        .filter(|n| !n.is_empty())
        .ok_or(FilterError::MissingIdentity { index })?;
    let namespace = meta.namespace.as_deref().filter(|n| !n.is_empty());
    Ok((namespace, name))
}

/// Decide one list item (`rows == false`) or Table row (`rows == true`).
pub(crate) fn item_visible<F>(
    bytes: &[u8],
    rows: bool,
    index: usize,
    group: &str,
    resource: &str,
    visible: &F,
) -> Result<bool, FilterError>
where
    F: Fn(&ObjectRef<'_>) -> bool,
{
    let malformed = |e: serde_json::Error| FilterError::Malformed {
        offset: 0,
        reason: format!("item {index}: {e}"),
    };
    let item: Item<'_>;
    let row: Row<'_>;
    let meta = if rows {
        row = serde_json::from_slice(bytes).map_err(malformed)?;
        let object = row.object.as_ref().ok_or(FilterError::NeedsMetadata)?;
        object.metadata.as_ref()
    } else {
        item = serde_json::from_slice(bytes).map_err(malformed)?;
        item.metadata.as_ref()
    };
    let (namespace, name) = identity(meta, index)?;
    let keep = visible(&ObjectRef {
        api_group: group,
        resource,
        namespace,
        name,
    });
    if keep {
        validate(bytes).map_err(malformed)?;
    }
    Ok(keep)
}

/// Full validation of a JSON value without building it: serde_json skips
/// UTF-8 and escape checks inside values it *ignores*, so bytes we forward
/// are walked once more with every string actually decoded (borrowed when
/// unescaped, so no allocation). Fail closed: never forward invalid JSON.
pub(crate) struct Validate;

impl<'de> serde::Deserialize<'de> for Validate {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValidateVisitor)
    }
}

struct ValidateVisitor;

impl<'de> serde::de::Visitor<'de> for ValidateVisitor {
    type Value = Validate;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Validate, E> {
        Ok(Validate)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Validate, E> {
        Ok(Validate)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Validate, E> {
        Ok(Validate)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Validate, E> {
        Ok(Validate)
    }
    fn visit_str<E>(self, _: &str) -> Result<Validate, E> {
        Ok(Validate)
    }
    fn visit_unit<E>(self) -> Result<Validate, E> {
        Ok(Validate)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut a: A) -> Result<Validate, A::Error> {
        while a.next_element::<Validate>()?.is_some() {}
        Ok(Validate)
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut a: A) -> Result<Validate, A::Error> {
        while a.next_key::<Validate>()?.is_some() {
            a.next_value::<Validate>()?;
        }
        Ok(Validate)
    }
}

/// Check that `bytes` are one valid JSON value.
pub(crate) fn validate(bytes: &[u8]) -> Result<(), serde_json::Error> {
    serde_json::from_slice::<Validate>(bytes).map(|_| ())
}
