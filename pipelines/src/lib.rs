//! Convene's media: GStreamer pipelines that the engine's actors build and change while calls run.

pub mod conference;
pub mod layout;
pub mod rtmp;

/// GStreamer elements the media pipelines need, with the Debian package that provides each.
pub const REQUIRED_ELEMENTS: &[(&str, &str)] = &[
    ("compositor", "gstreamer1.0-plugins-base"),
    ("audiomixer", "gstreamer1.0-plugins-base"),
    ("opusenc", "gstreamer1.0-plugins-base"),
    ("opusdec", "gstreamer1.0-plugins-base"),
    ("videoconvert", "gstreamer1.0-plugins-base"),
    ("videoscale", "gstreamer1.0-plugins-base"),
    ("rtpjitterbuffer", "gstreamer1.0-plugins-good"),
    ("rtpvp8depay", "gstreamer1.0-plugins-good"),
    ("rtpvp8pay", "gstreamer1.0-plugins-good"),
    ("rtph264depay", "gstreamer1.0-plugins-good"),
    ("rtph264pay", "gstreamer1.0-plugins-good"),
    ("vp8enc", "gstreamer1.0-plugins-good"),
    ("vp8dec", "gstreamer1.0-plugins-good"),
    ("x264enc", "gstreamer1.0-plugins-ugly"),
    ("avdec_h264", "gstreamer1.0-libav"),
    ("mulawenc", "gstreamer1.0-plugins-good"),
    ("alawenc", "gstreamer1.0-plugins-good"),
    ("mulawdec", "gstreamer1.0-plugins-good"),
    ("alawdec", "gstreamer1.0-plugins-good"),
    ("rtpbin", "gstreamer1.0-plugins-good"),
    ("udpsrc", "gstreamer1.0-plugins-good"),
    ("udpsink", "gstreamer1.0-plugins-good"),
    ("rtpopuspay", "gstreamer1.0-plugins-good"),
    ("rtpopusdepay", "gstreamer1.0-plugins-good"),
    ("rtppcmupay", "gstreamer1.0-plugins-good"),
    ("rtppcmudepay", "gstreamer1.0-plugins-good"),
    ("rtppcmapay", "gstreamer1.0-plugins-good"),
    ("rtppcmadepay", "gstreamer1.0-plugins-good"),
    ("rtpg722pay", "gstreamer1.0-plugins-good"),
    ("rtpg722depay", "gstreamer1.0-plugins-good"),
    ("rtpdtmfdepay", "gstreamer1.0-plugins-good"),
    ("avenc_g722", "gstreamer1.0-libav"),
    ("avdec_g722", "gstreamer1.0-libav"),
    ("h264parse", "gstreamer1.0-plugins-bad"),
    ("appsrc", "gstreamer1.0-plugins-base"),
    ("appsink", "gstreamer1.0-plugins-base"),
    ("videotestsrc", "gstreamer1.0-plugins-base"),
    ("audiotestsrc", "gstreamer1.0-plugins-base"),
    ("audioconvert", "gstreamer1.0-plugins-base"),
    ("audioresample", "gstreamer1.0-plugins-base"),
];

#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("GStreamer could not start: {0}")]
    Init(String),
    #[error("missing GStreamer elements: {0}")]
    MissingElements(String),
}

/// Initialises GStreamer and checks that every element the pipelines need is installed, naming
/// the package to install for each one that is not.
pub fn check_media() -> Result<String, MediaError> {
    gstreamer::init().map_err(|e| MediaError::Init(e.to_string()))?;
    let missing: Vec<String> = REQUIRED_ELEMENTS
        .iter()
        .filter(|(name, _)| gstreamer::ElementFactory::find(name).is_none())
        .map(|(name, pkg)| format!("{name} (apt-get install {pkg})"))
        .collect();
    if missing.is_empty() {
        Ok(gstreamer::version_string().to_string())
    } else {
        Err(MediaError::MissingElements(missing.join(", ")))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn media_elements_are_installed() {
        let version = super::check_media().expect("GStreamer and its plugins are installed by scripts/install-deps.sh");
        assert!(version.starts_with("GStreamer 1."), "{version}");
    }
}
