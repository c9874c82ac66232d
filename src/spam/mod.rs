//! Spam scoring. So far: the Bayesian classifier (`bayes`) and its
//! evaluation on a labelled corpus (`hato ctl spam eval`, `scripts/eval-spam`).
//! Still to come on top: DNSBL/URIBL, rules, authentication results, the
//! thresholds that add headers, file into Junk, quarantine or reject, and
//! training from users' Junk moves.

pub mod bayes;
pub mod tokens;
