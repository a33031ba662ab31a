//! SIP (RFC 3261): messages, sans-IO transactions and dialogs.
