//! A naive Bayesian spam classifier in Robinson's form with Fisher's method
//! of combining (as SpamBayes and bogofilter): each token's spamminess is
//! smoothed towards 0.5 when it was seen rarely, the most telling tokens are
//! combined by chi-square, and the score is 0 (ham) … 1 (spam), 0.5 unsure.

use std::collections::HashMap;

/// Token counts learnt from messages users (or the corpus) labelled, keyed
/// by the tokens' hashes (`tokens::hashes`). The store keeps the full model;
/// scoring a message loads just the counts of its own tokens.
#[derive(Clone, Debug, Default)]
pub struct Model {
    tokens: HashMap<i64, (u32, u32)>,
    spam: u32,
    ham: u32,
}

/// Strength of the prior (Robinson's s) and the prior itself (x).
const S: f64 = 0.45;
const X: f64 = 0.5;
/// Tokens closer to 0.5 than this say nothing.
const MIN_DEV: f64 = 0.1;
/// At most this many of the most telling tokens are combined.
const MAX_TOKENS: usize = 150;

/// The probability that a chi-square variable with `df` degrees of freedom
/// exceeds `x2` (df even), as in SpamBayes's chi2Q.
fn chi2_q(x2: f64, df: usize) -> f64 {
    let m = x2 / 2.0;
    let mut term = (-m).exp();
    let mut sum = term;
    for i in 1..df / 2 {
        term *= m / i as f64;
        sum += term;
    }
    sum.min(1.0)
}

impl Model {
    /// A model from stored counts (`Store::spam_counts`).
    pub fn from_counts(tokens: HashMap<i64, (u32, u32)>, spam: u32, ham: u32) -> Model {
        Model { tokens, spam, ham }
    }

    /// How many spam and ham messages it learnt.
    pub fn trained(&self) -> (u32, u32) {
        (self.spam, self.ham)
    }

    pub fn train(&mut self, tokens: &[i64], spam: bool) {
        for t in tokens {
            let e = self.tokens.entry(*t).or_default();
            if spam {
                e.0 += 1;
            } else {
                e.1 += 1;
            }
        }
        if spam {
            self.spam += 1;
        } else {
            self.ham += 1;
        }
    }

    fn spamminess(&self, t: &i64) -> Option<f64> {
        let &(s, h) = self.tokens.get(t)?;
        let sr = f64::from(s) / f64::from(self.spam.max(1));
        let hr = f64::from(h) / f64::from(self.ham.max(1));
        if sr + hr == 0.0 {
            return None;
        }
        let p = sr / (sr + hr);
        let n = f64::from(s + h);
        Some((S * X + n * p) / (S + n))
    }

    /// 0.0 (ham) to 1.0 (spam); 0.5 when nothing in the message is telling.
    pub fn score(&self, tokens: &[i64]) -> f64 {
        let mut probs: Vec<f64> =
            tokens.iter().filter_map(|t| self.spamminess(t)).filter(|p| (p - 0.5).abs() > MIN_DEV).collect();
        if probs.is_empty() {
            return 0.5;
        }
        probs.sort_by(|a, b| (b - 0.5).abs().total_cmp(&(a - 0.5).abs()));
        probs.truncate(MAX_TOKENS);
        let n = probs.len();
        // Ham evidence from the product of p, spam evidence from the product of 1 - p.
        let (mut ln_p, mut ln_not_p) = (0.0, 0.0);
        for p in &probs {
            let p = p.clamp(1e-6, 1.0 - 1e-6);
            ln_p += p.ln();
            ln_not_p += (1.0 - p).ln();
        }
        let ham = 1.0 - chi2_q(-2.0 * ln_p, 2 * n);
        let spam = 1.0 - chi2_q(-2.0 * ln_not_p, 2 * n);
        ((1.0 + spam - ham) / 2.0).clamp(0.0, 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(words: &[&str]) -> Vec<i64> {
        words.iter().map(|w| crate::spam::tokens::hash(w)).collect()
    }

    #[test]
    fn learns_to_tell_apart() {
        let mut m = Model::default();
        for _ in 0..20 {
            m.train(&set(&["viagra", "free", "click", "meeting"]), true);
            m.train(&set(&["meeting", "agenda", "minutes", "free"]), false);
        }
        assert!(m.score(&set(&["viagra", "click"])) > 0.9);
        assert!(m.score(&set(&["agenda", "minutes"])) < 0.1);
        assert_eq!(m.score(&set(&["unknown"])), 0.5);
        assert!((chi2_q(0.0, 4) - 1.0).abs() < 1e-9);
    }
}
