//! Random identifiers: tags, branches and Call-IDs (RFC 3261 §19.3). Seeded by the caller so
//! the endpoint stays deterministic under test; give it OS randomness in production.

use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};

use super::via::MAGIC_COOKIE;

pub struct IdGen {
    rng: StdRng,
}

impl IdGen {
    pub fn new(seed: u64) -> IdGen {
        IdGen { rng: StdRng::seed_from_u64(seed) }
    }

    fn hex(&mut self, words: usize) -> String {
        (0..words).map(|_| format!("{:016x}", self.rng.next_u64())).collect()
    }

    /// A From/To tag (64 random bits).
    pub fn tag(&mut self) -> String {
        self.hex(1)
    }

    /// A branch with the magic cookie (128 random bits).
    pub fn branch(&mut self) -> String {
        format!("{MAGIC_COOKIE}{}", self.hex(2))
    }

    /// A Call-ID (128 random bits).
    pub fn call_id(&mut self) -> String {
        self.hex(2)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u32) -> u32 {
        if n == 0 { 0 } else { (self.rng.next_u64() % u64::from(n)) as u32 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_and_determinism() {
        let mut a = IdGen::new(1);
        let mut b = IdGen::new(1);
        assert_eq!(a.tag(), b.tag());
        let br = a.branch();
        assert!(br.starts_with("z9hG4bK") && br.len() == 7 + 32);
        assert_ne!(a.call_id(), a.call_id());
        assert!(a.below(10) < 10);
    }
}
