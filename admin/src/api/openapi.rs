//! The OpenAPI 3 document at `/api/admin/openapi.json`, generated from the resource descriptors that
//! also validate requests, so the two cannot drift apart.

use actix_web::HttpResponse;
use convene_schema::descriptor::{Field, Kind, Resource};
use convene_schema::resources;
use convene_schema::store::history;
use convene_schema::validate;
use serde_json::{Map, Value, json};

pub async fn serve() -> HttpResponse {
    HttpResponse::Ok().json(document())
}

fn field_schema(f: &Field) -> Value {
    let mut s = match f.kind {
        Kind::Int { min, max } => json!({"type": "integer", "minimum": min, "maximum": max}),
        Kind::Bool => json!({"type": "boolean"}),
        Kind::Choice(values) => json!({"type": "string", "enum": values}),
        Kind::Pin => json!({"type": "string", "pattern": "^([0-9]{4,20}#?)?$"}),
        Kind::Str { max } | Kind::Text { max } | Kind::Template { max } => json!({"type": "string", "maxLength": max}),
        Kind::Secret { max } => json!({"type": "string", "maxLength": max, "writeOnly": true}),
        Kind::Regex | Kind::HttpUrl | Kind::LdapUrl | Kind::IpAddr => json!({"type": "string"}),
        Kind::Ref(target) => json!({"type": "string", "description": format!("resource_uri of a {target}")}),
        Kind::RefList(target) => json!({"type": "array", "items": {"type": "string"}, "description": format!("resource_uris of {target} objects")}),
        Kind::Aliases => json!({"type": "array", "items": {"$ref": "#/components/schemas/conference_alias_inline"}}),
        Kind::Json => json!({}),
        Kind::DateTime => json!({"type": "string", "format": "date-time"}),
    };
    if f.nullable {
        s["nullable"] = json!(true);
    }
    if f.readonly {
        s["readOnly"] = json!(true);
    }
    if !f.help.is_empty() && s.get("description").is_none() {
        s["description"] = json!(f.help);
    }
    if !matches!(f.kind, Kind::Secret { .. } | Kind::DateTime | Kind::Aliases) {
        s["default"] = validate::default_value(f);
    }
    s
}

fn object_schema(res: &Resource) -> Value {
    let mut props = Map::new();
    props.insert("id".into(), json!({"type": ["integer"], "readOnly": true}));
    props.insert("resource_uri".into(), json!({"type": "string", "readOnly": true}));
    for f in res.fields {
        props.insert(f.name.into(), field_schema(f));
    }
    let required: Vec<&str> = res.fields.iter().filter(|f| f.required).map(|f| f.name).collect();
    json!({"type": "object", "properties": props, "required": required, "additionalProperties": false})
}

fn list_schema(item: &str) -> Value {
    json!({"type": "object", "properties": {
        "meta": {"$ref": "#/components/schemas/meta"},
        "objects": {"type": "array", "items": {"$ref": format!("#/components/schemas/{item}")}},
    }})
}

fn ok(schema: Value) -> Value {
    json!({"description": "OK", "content": {"application/json": {"schema": schema}}})
}

pub fn document() -> Value {
    let mut paths = Map::new();
    let mut schemas = Map::new();
    let errors = json!({
        "400": {"description": "Invalid request: the body names each bad field", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/field_errors"}}}},
        "401": {"description": "Credentials missing or wrong"},
        "404": {"description": "No such object"},
    });
    let list_params = json!([
        {"name": "limit", "in": "query", "schema": {"type": "integer", "default": 20}, "description": "Page size; 0 for all."},
        {"name": "offset", "in": "query", "schema": {"type": "integer", "default": 0}},
        {"name": "order_by", "in": "query", "schema": {"type": "string"}, "description": "A field name, - prefix for descending."},
    ]);
    for res in resources::ALL {
        let name = format!("config_{}", res.name);
        schemas.insert(name.clone(), object_schema(res));
        let base = format!("{}{}/", convene_schema::descriptor::CONFIG_PREFIX, res.name);
        let item_ref = json!({"$ref": format!("#/components/schemas/{name}")});
        let mut list_ops = json!({
            "get": {"tags": ["configuration"], "summary": format!("List {} objects (filters: <field>, <field>__icontains, __startswith, __gte, __lt, …)", res.name),
                    "parameters": list_params, "responses": merge(json!({"200": ok(list_schema(&name))}), &errors)},
        });
        if !res.singleton {
            list_ops["post"] = json!({"tags": ["configuration"], "summary": format!("Create a {}", res.name),
                "requestBody": {"content": {"application/json": {"schema": item_ref}}},
                "responses": merge(json!({"201": {"description": "Created; Location holds the new resource_uri", "content": {"application/json": {"schema": item_ref}}}}), &errors)});
            list_ops["patch"] = json!({"tags": ["configuration"], "summary": "Bulk create/update (objects) and delete (deleted_objects), all or nothing",
                "requestBody": {"content": {"application/json": {"schema": {"type": "object", "properties": {
                    "objects": {"type": "array", "items": item_ref}, "deleted_objects": {"type": "array", "items": {"type": "string"}}}}}}},
                "responses": merge(json!({"202": {"description": "Accepted"}}), &errors)});
            list_ops["delete"] = json!({"tags": ["configuration"], "summary": format!("Delete every {}", res.name), "responses": {"204": {"description": "Deleted"}}});
        }
        paths.insert(base.clone(), list_ops);
        let id_param = json!([{"name": "id", "in": "path", "required": true, "schema": {"type": "integer"}}]);
        let mut detail = json!({
            "parameters": id_param,
            "get": {"tags": ["configuration"], "responses": merge(json!({"200": ok(item_ref.clone())}), &errors)},
            "put": {"tags": ["configuration"], "requestBody": {"content": {"application/json": {"schema": item_ref}}}, "responses": merge(json!({"202": ok(item_ref.clone())}), &errors)},
            "patch": {"tags": ["configuration"], "requestBody": {"content": {"application/json": {"schema": item_ref}}}, "responses": merge(json!({"202": ok(item_ref.clone())}), &errors)},
        });
        if !res.singleton {
            detail["delete"] = json!({"tags": ["configuration"], "responses": merge(json!({"204": {"description": "Deleted"}}), &errors)});
        }
        paths.insert(format!("{base}{{id}}/"), detail);
        paths.insert(format!("{base}schema/"), json!({"get": {"tags": ["configuration"], "summary": "Tastypie schema of this resource", "responses": {"200": {"description": "OK"}}}}));
    }
    for res in [&history::CONFERENCE, &history::PARTICIPANT] {
        let name = format!("history_{}", res.name);
        schemas.insert(name.clone(), object_schema(res));
        let base = format!("{}{}/", history::HISTORY_PREFIX, res.name);
        paths.insert(base.clone(), json!({"get": {"tags": ["history"], "parameters": list_params, "responses": merge(json!({"200": ok(list_schema(&name))}), &errors)}}));
        paths.insert(format!("{base}{{id}}/"), json!({"parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
            "get": {"tags": ["history"], "responses": merge(json!({"200": ok(json!({"$ref": format!("#/components/schemas/{name}")}))}), &errors)}}));
    }
    for res in ["conference", "participant", "worker_vm", "system_location"] {
        let base = format!("{}{res}/", super::status::STATUS_PREFIX);
        paths.insert(base.clone(), json!({"get": {"tags": ["status"], "parameters": list_params, "responses": {"200": {"description": "OK"}}}}));
        paths.insert(format!("{base}{{id}}/"), json!({"parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
            "get": {"tags": ["status"], "responses": {"200": {"description": "OK"}, "404": {"description": "Not live"}}}}));
    }
    for (kind, actions, key) in [
        ("conference", &["disconnect", "lock", "unlock", "mute_guests", "unmute_guests", "transform_layout"][..], "conference_id"),
        ("participant", &["disconnect", "mute", "unmute", "unlock", "transfer", "role"][..], "participant_id"),
    ] {
        for action in actions {
            paths.insert(format!("/api/admin/command/v1/{kind}/{action}/"), json!({"post": {"tags": ["command"],
                "requestBody": {"content": {"application/json": {"schema": {"type": "object", "required": [key], "properties": {key: {"type": "string"}}}}}},
                "responses": merge(json!({"200": {"description": "{\"status\": \"success\"}"}}), &errors)}}));
        }
    }
    paths.insert("/api/admin/command/v1/participant/dial/".into(), json!({"post": {"tags": ["command"],
        "requestBody": {"content": {"application/json": {"schema": {"type": "object", "required": ["conference_alias", "destination"], "properties": {
            "conference_alias": {"type": "string"}, "destination": {"type": "string"},
            "protocol": {"type": "string", "enum": ["sip", "h323", "mssip", "rtmp", "gms", "teams"]},
            "role": {"type": "string", "enum": ["guest", "chair"]}, "call_type": {"type": "string"},
            "routing": {"type": "string", "enum": ["manual", "routing_rule"]}, "local_display_name": {"type": "string"},
            "remote_display_name": {"type": "string"}, "dtmf_sequence": {"type": "string"}, "streaming": {"type": "boolean"}}}}}},
        "responses": merge(json!({"200": {"description": "{\"status\": \"success\", \"data\": {\"participant_id\": …}}"}}), &errors)}}));
    paths.insert("/api/admin/command/v1/conference/sync/".into(), json!({"post": {"tags": ["command"],
        "requestBody": {"content": {"application/json": {"schema": {"type": "object", "required": ["conference_sync_template_id"], "properties": {"conference_sync_template_id": {"type": "integer"}}}}}},
        "responses": merge(json!({"200": {"description": "Sync started"}}), &errors)}}));
    paths.insert("/api/admin/command/v1/conference/sync_preview/".into(), json!({"post": {"tags": ["command"],
        "summary": "Convene extension: render a sync template for the first entries of the directory; writes nothing",
        "requestBody": {"content": {"application/json": {"schema": {"type": "object", "required": ["conference_sync_template_id"], "properties": {
            "conference_sync_template_id": {"type": "integer"}, "count": {"type": "integer", "minimum": 1, "maximum": 100, "default": 10}}}}}},
        "responses": merge(json!({"200": {"description": "{\"status\": \"success\", \"data\": {\"conference_sync_template_id\", \"template_name\", \"entries\": [{\"dn\", \"conference_name\", \"conference_description\", \"aliases\", \"pin\", \"guest_pin\", \"host_view\", \"tag\", \"error\"}]}}"},
            "404": {"description": "No such template"}, "503": {"description": "The directory could not be searched (the message says why)"}}), &errors)}}));
    schemas.insert("meta".into(), json!({"type": "object", "properties": {
        "limit": {"type": "integer"}, "offset": {"type": "integer"}, "total_count": {"type": "integer"},
        "next": {"type": "string", "nullable": true}, "previous": {"type": "string", "nullable": true}}}));
    schemas.insert("field_errors".into(), json!({"type": "object", "description": "{\"<resource>\": {\"<field>\": [\"message\", …]}}",
        "additionalProperties": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}}}));
    schemas.insert("conference_alias_inline".into(), json!({"type": "object", "required": ["alias"], "properties": {
        "alias": {"type": "string", "maxLength": 250}, "description": {"type": "string", "maxLength": 250}}}));
    json!({
        "openapi": "3.0.3",
        "info": {"title": "Convene Management API", "version": env!("CARGO_PKG_VERSION"),
                 "description": "Pexip Infinity compatible Management REST API (Tastypie conventions)."},
        "components": {"schemas": schemas, "securitySchemes": {"basic": {"type": "http", "scheme": "basic"}}},
        "security": [{"basic": []}],
        "paths": paths,
    })
}

fn merge(mut a: Value, b: &Value) -> Value {
    if let (Some(a), Some(b)) = (a.as_object_mut(), b.as_object()) {
        for (k, v) in b {
            a.entry(k.clone()).or_insert(v.clone());
        }
    }
    a
}
