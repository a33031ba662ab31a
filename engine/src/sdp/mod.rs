//! SDP offer/answer (RFC 3264) for SIP and WebRTC calls: parsing, negotiation, answer and offer generation.
