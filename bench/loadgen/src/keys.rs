//! Key choice: uniform, or YCSB's scrambled Zipfian (theta 0.99: a few keys are hot, spread
//! over the key space rather than clustered at its start), and "latest" for YCSB D.

use rand::Rng;

pub enum Keys {
    Uniform(u64),
    Zipfian(Zipfian),
}

impl Keys {
    pub fn next(&self, rng: &mut impl Rng) -> u64 {
        match self {
            Keys::Uniform(n) => rng.gen_range(0..*n),
            Keys::Zipfian(z) => fnv(z.next(rng)) % z.items,
        }
    }
}

/// YCSB's Zipfian generator (Gray et al., "Quickly generating billion-record synthetic
/// databases"): rank 0 most popular.
pub struct Zipfian {
    items: u64,
    theta: f64,
    alpha: f64,
    zetan: f64,
    eta: f64,
}

fn zeta(n: u64, theta: f64) -> f64 {
    (1..=n).map(|i| 1.0 / (i as f64).powf(theta)).sum()
}

impl Zipfian {
    pub fn new(items: u64) -> Zipfian {
        let theta = 0.99;
        let zetan = zeta(items, theta);
        let zeta2 = zeta(2, theta);
        Zipfian {
            items,
            theta,
            alpha: 1.0 / (1.0 - theta),
            zetan,
            eta: (1.0 - (2.0 / items as f64).powf(1.0 - theta)) / (1.0 - zeta2 / zetan),
        }
    }

    pub fn next(&self, rng: &mut impl Rng) -> u64 {
        let u: f64 = rng.gen();
        let uz = u * self.zetan;
        if uz < 1.0 {
            return 0;
        }
        if uz < 1.0 + 0.5f64.powf(self.theta) {
            return 1;
        }
        let rank = (self.items as f64 * (self.eta * u - self.eta + 1.0).powf(self.alpha)) as u64;
        rank.min(self.items - 1)
    }
}

/// FNV-1a of a rank, so hot keys are scattered over the key space (YCSB's scrambling).
fn fnv(x: u64) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in x.to_le_bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn zipfian_is_skewed_and_in_range() {
        let z = Zipfian::new(10_000);
        let mut rng = StdRng::seed_from_u64(1);
        let mut counts = vec![0u32; 10_000];
        for _ in 0..200_000 {
            counts[z.next(&mut rng) as usize] += 1;
        }
        // Rank 0 alone draws several percent; the top 1% of ranks draw over a third.
        assert!(counts[0] > 10_000, "{}", counts[0]);
        let top: u32 = counts[..100].iter().sum();
        assert!(top > 70_000, "{top}");
        let keys = Keys::Zipfian(z);
        assert!((0..1000).all(|_| keys.next(&mut rng) < 10_000));
    }
}
