-- Configuration objects of every resource. `name` is the resource's key field (searched and
-- sorted on), `unique_key` its lower-cased value where it must be unique, `owner_id` the parent of a
-- child object (a conference_alias's conference); every field is in the JSON document `data`.
CREATE TABLE config_object (
    id BIGSERIAL PRIMARY KEY,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    unique_key TEXT,
    owner_id BIGINT,
    data TEXT NOT NULL,
    creation_time TEXT NOT NULL
);
CREATE UNIQUE INDEX config_object_unique ON config_object (kind, unique_key);
CREATE INDEX config_object_name ON config_object (kind, name);
CREATE INDEX config_object_owner ON config_object (owner_id);

-- Call detail records (history API): conference instances and participants, kept across restarts.
CREATE TABLE history_record (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    parent_id TEXT,
    start_time TEXT NOT NULL,
    end_time TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX history_record_kind_end ON history_record (kind, end_time);
CREATE INDEX history_record_parent ON history_record (parent_id);

CREATE TABLE admin_user (
    username TEXT PRIMARY KEY NOT NULL,
    password_hash TEXT NOT NULL,
    created TEXT NOT NULL
);

-- Dashboard login sessions; the cookie holds `id`, forms carry `csrf_token`.
CREATE TABLE admin_session (
    id TEXT PRIMARY KEY NOT NULL,
    username TEXT NOT NULL,
    csrf_token TEXT NOT NULL,
    expires TEXT NOT NULL
);
