//! The Bayesian classifier, cross-validated by `hato ctl spam eval` on a
//! slice of the labelled corpus (the full run is scripts/eval-spam).

mod common;

use common::*;

#[test]
fn classifier_separates_the_corpus() {
    let corpus = format!("{}/../shared/corpus/spamassassin-dev", env!("CARGO_MANIFEST_DIR"));
    let dir = temp_dir("spam-eval");
    for (label, n) in [("ham", 300), ("spam", 150)] {
        let to = dir.join(label);
        std::fs::create_dir_all(&to).unwrap();
        let mut names: Vec<_> = std::fs::read_dir(format!("{corpus}/{label}")).unwrap().map(|e| e.unwrap().path()).collect();
        names.sort();
        // Every k-th file, so each of the corpus's source folders is represented.
        let step = (names.len() / n).max(1);
        for p in names.iter().step_by(step).take(n) {
            std::fs::copy(p, to.join(p.file_name().unwrap())).unwrap();
        }
    }
    let config = dir.join("hato.toml");
    std::fs::write(&config, format!("data_dir = \"{}\"\n", dir.join("data").display())).unwrap();
    let out = ctl_in(&config, &["spam", "eval", "--ham", dir.join("ham").to_str().unwrap(), "--spam", dir.join("spam").to_str().unwrap(), "--json"], None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let at = |t: f64| report["rows"].as_array().unwrap().iter().find(|r| r["threshold"].as_f64() == Some(t)).cloned().unwrap();
    let r = at(0.9);
    eprintln!("{report}");
    assert!(r["spam_recall"].as_f64().unwrap() > 0.7, "{report}");
    assert!(r["ham_false_positive_rate"].as_f64().unwrap() < 0.03, "{report}");
    let bad = ctl_in(&config, &["spam", "eval", "--ham", "/nonexistent", "--spam", "/nonexistent"], None);
    assert_eq!(bad.status.code(), Some(2), "a missing directory is a usage error");
    std::fs::remove_dir_all(dir).ok();
}
