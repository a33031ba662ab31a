//! Tastypie list envelopes: `{"meta": {limit, next, offset, previous, total_count}, "objects": […]}`.

use serde_json::{Value, json};

/// Builds a list response for a page at `offset` of `limit` (`None`: everything) out of `total`.
pub fn envelope(path: &str, params: &[(String, String)], total: i64, limit: Option<i64>, offset: i64, objects: Vec<Value>) -> Value {
    let link = |new_offset: i64| -> String {
        let mut query: Vec<(String, String)> =
            params.iter().filter(|(k, _)| k != "offset" && k != "limit").cloned().collect();
        query.push(("limit".into(), limit.unwrap_or(0).to_string()));
        query.push(("offset".into(), new_offset.to_string()));
        let qs: Vec<String> = query.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect();
        format!("{path}?{}", qs.join("&"))
    };
    let (next, previous) = match limit {
        Some(limit) => (
            (offset + limit < total).then(|| link(offset + limit)),
            (offset > 0).then(|| link((offset - limit).max(0))),
        ),
        None => (None, None),
    };
    json!({
        "meta": {"limit": limit.unwrap_or(0), "next": next, "offset": offset, "previous": previous, "total_count": total},
        "objects": objects,
    })
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Pages an in-memory list (status objects) with Tastypie parameters; `filter` decides which
/// objects match the non-paging parameters.
pub fn page_in_memory(
    path: &str,
    params: &[(String, String)],
    mut objects: Vec<Value>,
) -> Result<Value, crate::error::ApiError> {
    use crate::error::ApiError;
    let mut limit = Some(20i64);
    let mut offset = 0i64;
    for (k, v) in params {
        match k.as_str() {
            "limit" => limit = match v.parse::<i64>() {
                Ok(0) => None,
                Ok(n) if n > 0 => Some(n),
                _ => return Err(ApiError::BadRequest("limit must be a whole number, 0 or more.".into())),
            },
            "offset" => offset = v.parse().ok().filter(|n| *n >= 0).ok_or_else(|| ApiError::BadRequest("offset must be a whole number, 0 or more.".into()))?,
            "format" | "order_by" => {}
            _ => {
                let (field, op) = k.rsplit_once("__").unwrap_or((k.as_str(), "exact"));
                let matches = |o: &Value| {
                    let actual = match o.get(field) {
                        Some(Value::String(s)) => s.clone(),
                        Some(Value::Null) | None => String::new(),
                        Some(other) => other.to_string(),
                    };
                    match op {
                        "exact" => actual == *v,
                        "iexact" => actual.eq_ignore_ascii_case(v),
                        "icontains" => actual.to_lowercase().contains(&v.to_lowercase()),
                        "contains" => actual.contains(v.as_str()),
                        "startswith" => actual.starts_with(v.as_str()),
                        "gte" => actual.as_str() >= v.as_str(),
                        "lt" => actual.as_str() < v.as_str(),
                        _ => false,
                    }
                };
                if !["exact", "iexact", "icontains", "contains", "startswith", "gte", "lt"].contains(&op) {
                    return Err(ApiError::BadRequest(format!("Unknown filter \"{k}\".")));
                }
                objects.retain(|o| matches(o));
            }
        }
    }
    let total = objects.len() as i64;
    let page: Vec<Value> = objects.into_iter().skip(offset as usize).take(limit.map(|l| l as usize).unwrap_or(usize::MAX)).collect();
    Ok(envelope(path, params, total, limit, offset, page))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_and_previous_links_keep_filters() {
        let params = vec![("name__icontains".to_string(), "a b".to_string())];
        let v = envelope("/x/", &params, 45, Some(20), 20, vec![]);
        assert_eq!(v["meta"]["next"], "/x/?name__icontains=a%20b&limit=20&offset=40");
        assert_eq!(v["meta"]["previous"], "/x/?name__icontains=a%20b&limit=20&offset=0");
        let last = envelope("/x/", &[], 45, Some(20), 40, vec![]);
        assert_eq!(last["meta"]["next"], Value::Null);
        let all = envelope("/x/", &[], 45, None, 0, vec![]);
        assert_eq!(all["meta"]["limit"], 0);
    }
}
