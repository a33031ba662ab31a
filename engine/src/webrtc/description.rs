//! What a bridge looks like from the media engine's side: per media kind, the negotiated codec
//! and payload type and the bridge's loopback sockets the pipeline sends to. The engine turns it
//! into the pipeline's `AudioSpec`/`VideoSpec` exactly as it does for a SIP endpoint's SDP, and
//! tells the bridge where the pipeline listens with [`PipelineTarget`].

use std::net::SocketAddr;

use convene_pipelines::conference::{AudioCodec, AudioSpec, H264Params, VideoCodecSpec, VideoSpec};

use super::offer::BridgeCodec;

/// One media kind of a bridge, as the pipeline sees it: an RTP endpoint at `rtp` (RTCP at
/// `rtcp`, not multiplexed) that speaks `codec` under `payload_type`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaLeg {
    /// The negotiated codec.
    pub codec: BridgeCodec,
    /// The negotiated payload type: what the browser sends (forwarded unchanged) and what the
    /// pipeline should send (anything else is rewritten to it).
    pub payload_type: u8,
    /// RTP clock rate.
    pub clock_rate: u32,
    /// Audio channels (2 for Opus).
    pub channels: u16,
    /// The bridge's socket for the pipeline's RTP: the spec's `remote`.
    pub rtp_addr: SocketAddr,
    /// The bridge's socket for the pipeline's RTCP: the spec's `remote_rtcp`.
    pub rtcp_addr: SocketAddr,
}

impl MediaLeg {
    /// The pipeline's audio spec for this leg (`None` for a video leg). No telephone-event:
    /// browsers send DTMF through the Client API, not RTP.
    pub fn audio_spec(&self) -> Option<AudioSpec> {
        (self.codec == BridgeCodec::Opus).then(|| {
            let mut a = AudioSpec::new(AudioCodec::Opus, self.payload_type, self.rtp_addr);
            a.clock_rate = self.clock_rate;
            a.channels = u32::from(self.channels.max(1));
            a.remote_rtcp = Some(self.rtcp_addr);
            a.rtcp_mux = false;
            a
        })
    }

    /// The pipeline's video spec for this leg at the given picture size and bitrate (`None` for
    /// an audio leg).
    pub fn video_spec(&self, width: u32, height: u32, kbps: u32) -> Option<VideoSpec> {
        let codec = match self.codec {
            BridgeCodec::Vp8 => VideoCodecSpec::Vp8,
            BridgeCodec::H264 { packetization_mode, profile_level_id } => {
                VideoCodecSpec::H264(H264Params { packetization_mode, profile_level_id })
            }
            BridgeCodec::Opus => return None,
        };
        let mut v = VideoSpec::new(codec, self.payload_type, self.rtp_addr, width, height, kbps);
        v.remote_rtcp = Some(self.rtcp_addr);
        v.rtcp_mux = false;
        Some(v)
    }
}

/// The media a bridge carries. A kind is `None` when the offer had no usable m-line for it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BridgeDescription {
    /// Opus.
    pub audio: Option<MediaLeg>,
    /// VP8 or H.264.
    pub video: Option<MediaLeg>,
}

/// Where the pipeline receives one media kind: its RTP port and its RTCP port (the same
/// address when the pipeline's island uses rtcp-mux). From the pipeline's `LocalPorts`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PipelineTarget {
    /// Decrypted RTP from the browser goes here.
    pub rtp: SocketAddr,
    /// Keyframe requests (PLI) from the browser and its sender reports go here.
    pub rtcp: SocketAddr,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legs_become_pipeline_specs() {
        let leg = MediaLeg {
            codec: BridgeCodec::Opus,
            payload_type: 111,
            clock_rate: 48_000,
            channels: 2,
            rtp_addr: "127.0.0.1:4000".parse().unwrap(),
            rtcp_addr: "127.0.0.1:4100".parse().unwrap(),
        };
        let a = leg.audio_spec().unwrap();
        assert_eq!((a.codec, a.payload_type, a.channels, a.rtcp_mux), (AudioCodec::Opus, 111, 2, false));
        assert_eq!((a.remote, a.remote_rtcp), (leg.rtp_addr, Some(leg.rtcp_addr)));
        assert!(leg.video_spec(640, 360, 500).is_none());

        let h = MediaLeg {
            codec: BridgeCodec::H264 { packetization_mode: 1, profile_level_id: 0x42e01f },
            payload_type: 125,
            clock_rate: 90_000,
            channels: 0,
            ..leg
        };
        let v = h.video_spec(1280, 720, 1200).unwrap();
        assert_eq!(v.codec, VideoCodecSpec::H264(H264Params { packetization_mode: 1, profile_level_id: 0x42e01f }));
        assert_eq!((v.payload_type, v.width, v.remote_rtcp), (125, 1280, Some(h.rtcp_addr)));
        assert!(h.audio_spec().is_none());
    }
}
