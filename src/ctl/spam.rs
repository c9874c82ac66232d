//! `hato ctl spam`: teach the classifier (`learn`), see what it knows
//! (`stats`), and `eval`: how well it separates a labelled corpus, by k-fold
//! cross-validation (train on k-1 folds, score the held-out one), reported as
//! precision and recall at several thresholds.

use std::path::{Path, PathBuf};

use clap::Subcommand;

use super::{CtlError, Ctx};
use crate::spam::{bayes::Model, tokens};
use crate::store::LearnedMessage;

#[derive(Debug, Subcommand)]
pub enum SpamCmd {
    /// Teach the classifier: every file in the directories (one message each) is spam, or ham.
    Learn {
        #[arg(long, conflicts_with = "ham", required_unless_present = "ham")]
        spam: bool,
        #[arg(long)]
        ham: bool,
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
    },
    /// How many spam and ham messages the classifier has learnt.
    Stats,
    /// Cross-validate the classifier on directories of ham and spam messages (one file each).
    Eval {
        #[arg(long)]
        ham: PathBuf,
        #[arg(long)]
        spam: PathBuf,
        #[arg(long, default_value_t = 5)]
        folds: usize,
    },
}

#[derive(serde::Serialize)]
struct Row {
    threshold: f64,
    spam_precision: f64,
    spam_recall: f64,
    ham_false_positive_rate: f64,
}

#[derive(serde::Serialize)]
struct Report {
    ham: usize,
    spam: usize,
    folds: usize,
    rows: Vec<Row>,
}

fn read_dir(dir: &Path) -> Result<Vec<Vec<u8>>, CtlError> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| CtlError::Usage(format!("cannot read {}: {e}", dir.display())))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    names.sort();
    names
        .iter()
        .map(|p| std::fs::read(p).map_err(|e| CtlError::Usage(format!("cannot read {}: {e}", p.display()))))
        .collect()
}

pub async fn run(ctx: &Ctx, cmd: SpamCmd) -> Result<(), CtlError> {
    match cmd {
        SpamCmd::Learn { spam, dirs, .. } => {
            let mut learnt = 0;
            for dir in &dirs {
                let messages = read_dir(dir)?;
                learnt += messages.len();
                // A few hundred per commit: one transaction, not one per message.
                for chunk in messages.chunks(500) {
                    let learned = chunk.iter().map(|m| LearnedMessage { hashes: tokens::hashes(m), spam }).collect();
                    ctx.store.spam_learn(learned).await?;
                }
            }
            let totals = ctx.store.spam_totals().await?;
            let (s, h) = (totals.spam, totals.ham);
            let kind = if spam { "spam" } else { "ham" };
            ctx.out.show(&totals, || {
                format!("learnt {learnt} messages as {kind}; the classifier knows {s} spam and {h} ham\n")
            });
            Ok(())
        }
        SpamCmd::Stats => {
            let totals = ctx.store.spam_totals().await?;
            let (s, h) = (totals.spam, totals.ham);
            let min = ctx.cfg.spam.min_trained;
            ctx.out.show(&totals, || {
                let active = if s.min(h) >= min {
                    "in use".to_string()
                } else {
                    format!("not in use until it knows {min} of each")
                };
                format!("{s} spam and {h} ham learnt; the classifier is {active}\n")
            });
            Ok(())
        }
        SpamCmd::Eval { ham, spam, folds } => eval(ctx, ham, spam, folds),
    }
}

fn eval(ctx: &Ctx, ham: PathBuf, spam: PathBuf, folds: usize) -> Result<(), CtlError> {
    if !(2..=20).contains(&folds) {
        return Err(CtlError::Usage(format!("--folds {folds} is out of range (2 to 20)")));
    }
    let (hams, spams) = (read_dir(&ham)?, read_dir(&spam)?);
    if hams.is_empty() || spams.is_empty() {
        return Err(CtlError::Usage("both --ham and --spam need messages".into()));
    }
    // (tokens, is spam, fold)
    let labelled: Vec<_> = hams
        .iter()
        .enumerate()
        .map(|(i, m)| (tokens::hashes(m), false, i % folds))
        .chain(spams.iter().enumerate().map(|(i, m)| (tokens::hashes(m), true, i % folds)))
        .collect();
    let mut scored: Vec<(f64, bool)> = Vec::with_capacity(labelled.len());
    for fold in 0..folds {
        let mut model = Model::default();
        for (t, is_spam, f) in &labelled {
            if *f != fold {
                model.train(t, *is_spam);
            }
        }
        scored.extend(labelled.iter().filter(|x| x.2 == fold).map(|(t, is_spam, _)| (model.score(t), *is_spam)));
    }
    let rows: Vec<Row> = [0.5, 0.8, 0.9, 0.95, 0.99]
        .iter()
        .map(|&threshold| {
            let tp = scored.iter().filter(|(s, y)| *y && *s >= threshold).count() as f64;
            let fp = scored.iter().filter(|(s, y)| !*y && *s >= threshold).count() as f64;
            let spam_total = spams.len() as f64;
            Row {
                threshold,
                spam_precision: if tp + fp > 0.0 { tp / (tp + fp) } else { 1.0 },
                spam_recall: tp / spam_total,
                ham_false_positive_rate: fp / hams.len() as f64,
            }
        })
        .collect();
    let report = Report { ham: hams.len(), spam: spams.len(), folds, rows };
    ctx.out.show(&report, || {
        let mut t = format!(
            "{} ham, {} spam, {}-fold cross-validation\nthreshold  precision  recall  ham false positives\n",
            report.ham, report.spam, folds
        );
        for r in &report.rows {
            t.push_str(&format!(
                "{:>9.2}  {:>9.4}  {:>6.4}  {:>6.4} %\n",
                r.threshold,
                r.spam_precision,
                r.spam_recall,
                r.ham_false_positive_rate * 100.0
            ));
        }
        t
    });
    Ok(())
}
