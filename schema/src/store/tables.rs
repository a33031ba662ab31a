//! The diesel schema (the same tables on SQLite and PostgreSQL; see `migrations/`).

diesel::table! {
    config_object (id) {
        id -> BigInt,
        kind -> Text,
        name -> Text,
        unique_key -> Nullable<Text>,
        owner_id -> Nullable<BigInt>,
        data -> Text,
        creation_time -> Text,
    }
}

diesel::table! {
    history_record (id) {
        id -> Text,
        kind -> Text,
        name -> Text,
        parent_id -> Nullable<Text>,
        start_time -> Text,
        end_time -> Text,
        data -> Text,
    }
}

diesel::table! {
    admin_user (username) {
        username -> Text,
        password_hash -> Text,
        created -> Text,
    }
}

diesel::table! {
    admin_session (id) {
        id -> Text,
        username -> Text,
        csrf_token -> Text,
        expires -> Text,
    }
}

diesel::table! {
    ldap_sync_status (template_id) {
        template_id -> BigInt,
        data -> Text,
        updated -> Text,
    }
}
