DROP TABLE ldap_sync_status;
