-- The last finished LDAP sync of each conference_sync_template (its status as the
-- conference_sync status resource shows it, JSON in `data`), so it survives a restart.
CREATE TABLE ldap_sync_status (
    template_id BIGINT PRIMARY KEY NOT NULL,
    data TEXT NOT NULL,
    updated TEXT NOT NULL
);
