//! [`Sdp`] → text, through rtc-sdp's serialiser (RFC 4566 line order, CRLF line ends).

use rtc_sdp::description::common::{
    Address, Attribute as RtcAttribute, Bandwidth as RtcBandwidth, ConnectionInformation,
};
use rtc_sdp::description::media::{MediaDescription, MediaName, RangedPort};
use rtc_sdp::description::session::{
    Origin as RtcOrigin, SessionDescription, TimeDescription, Timing,
};

use super::model::{Attribute, BandwidthLine, Connection, Sdp};

impl Sdp {
    /// Writes the description as SDP text with CRLF line ends.
    pub fn to_text(&self) -> String {
        to_rtc(self).marshal()
    }
}

fn address_type(address: &str) -> &'static str {
    if address.contains(':') { "IP6" } else { "IP4" }
}

fn connection(c: &Option<Connection>) -> Option<ConnectionInformation> {
    c.as_ref().map(|c| ConnectionInformation {
        network_type: "IN".to_owned(),
        address_type: address_type(&c.address).to_owned(),
        address: Some(Address {
            address: c.address.clone(),
            ttl: None,
            range: None,
        }),
    })
}

fn bandwidth(lines: &[BandwidthLine]) -> Vec<RtcBandwidth> {
    lines
        .iter()
        .map(|b| match b.kind.strip_prefix("X-") {
            Some(kind) => RtcBandwidth {
                experimental: true,
                bandwidth_type: kind.to_owned(),
                bandwidth: b.value,
            },
            None => RtcBandwidth {
                experimental: false,
                bandwidth_type: b.kind.clone(),
                bandwidth: b.value,
            },
        })
        .collect()
}

fn attributes(attrs: &[Attribute]) -> Vec<RtcAttribute> {
    attrs
        .iter()
        .map(|a| RtcAttribute::new(a.name.clone(), a.value.clone()))
        .collect()
}

fn to_rtc(sdp: &Sdp) -> SessionDescription {
    SessionDescription {
        version: 0,
        origin: RtcOrigin {
            username: sdp.origin.username.clone(),
            session_id: sdp.origin.session_id,
            session_version: sdp.origin.session_version,
            network_type: "IN".to_owned(),
            address_type: address_type(&sdp.origin.address).to_owned(),
            unicast_address: sdp.origin.address.clone(),
        },
        session_name: sdp.session_name.clone(),
        session_information: None,
        uri: None,
        email_address: None,
        phone_number: None,
        connection_information: connection(&sdp.connection),
        bandwidth: bandwidth(&sdp.bandwidth),
        time_descriptions: vec![TimeDescription {
            timing: Timing {
                start_time: sdp.timing.0,
                stop_time: sdp.timing.1,
            },
            repeat_times: vec![],
        }],
        time_zones: vec![],
        encryption_key: None,
        attributes: attributes(&sdp.attributes),
        media_descriptions: sdp
            .media
            .iter()
            .map(|m| MediaDescription {
                media_name: MediaName {
                    media: m.kind.as_str().to_owned(),
                    port: RangedPort {
                        value: m.port as isize,
                        range: m.port_count.map(|c| c as isize),
                    },
                    protos: m.proto.split('/').map(str::to_owned).collect(),
                    formats: m.formats.clone(),
                },
                media_title: None,
                connection_information: connection(&m.connection),
                bandwidth: bandwidth(&m.bandwidth),
                encryption_key: None,
                attributes: attributes(&m.attributes),
            })
            .collect(),
    }
}
