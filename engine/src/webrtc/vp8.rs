//! VP8 over RTP (RFC 7741), what the bridge's tests and the WebRTC benchmark need to tell
//! keyframes in a stream they receive.

/// Whether an RTP payload is the first packet of a VP8 keyframe (RFC 7741 §4.2-4.3).
pub fn vp8_keyframe_start(p: &[u8]) -> bool {
    let Some(&first) = p.first() else { return false };
    let (x, s, pid) = (first & 0x80 != 0, first & 0x10 != 0, first & 0x07);
    if !s || pid != 0 {
        return false;
    }
    let mut off = 1;
    if x {
        let Some(&ext) = p.get(1) else { return false };
        off = 2;
        if ext & 0x80 != 0 {
            // PictureID: one byte, or two when M is set.
            off += if p.get(off).is_some_and(|b| b & 0x80 != 0) { 2 } else { 1 };
        }
        if ext & 0x40 != 0 {
            off += 1; // TL0PICIDX
        }
        if ext & 0x30 != 0 {
            off += 1; // TID/Y/KEYIDX
        }
    }
    p.get(off).is_some_and(|b| b & 0x01 == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyframe_starts_are_told_from_the_rest() {
        // S=1, PID=0, no extension; payload header P bit 0: a keyframe's first packet.
        assert!(vp8_keyframe_start(&[0x10, 0x00]));
        assert!(!vp8_keyframe_start(&[0x10, 0x01]), "P=1: an inter frame");
        assert!(!vp8_keyframe_start(&[0x00, 0x00]), "not the start of a partition");
        // X with a 15-bit PictureID (M set), TL0PICIDX: the payload header moves 4 bytes on.
        assert!(vp8_keyframe_start(&[0x90, 0xc0, 0x80, 0x01, 0x05, 0x00]));
        assert!(!vp8_keyframe_start(&[0x90, 0xc0, 0x80]), "cut short");
        assert!(!vp8_keyframe_start(&[]));
    }
}
