//! The `experiment` command: `experiment run` runs one experiment, `experiment sweep` one
//! per latency or post rate of a list, `experiment attack` the double-spend race, `experiment selfish`
//! selfish mining; each writes its record, results and charts to `--out`. `experiment
//! reanalyze DIR` recomputes results and charts from what a run, sweep or attack
//! recorded, without running anything.
//!
//! Glue only: configuration, runs, analysis and reports are library code; this is the one
//! place errors become exit codes.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use chainpost_edge::shutdown::shutdown_signal;
use chainpost_experiment::analysis::{self, Results};
use chainpost_experiment::attack::double_spend::analysis::AttackResults;
use chainpost_experiment::attack::double_spend::config::{AttackConfig, AttackSettings};
use chainpost_experiment::attack::double_spend::record::AttackRecord;
use chainpost_experiment::attack::double_spend::{self, report as attack_report};
use chainpost_experiment::attack::selfish::{self, SelfishConfig, SelfishRecord, SelfishSettings};
use chainpost_experiment::bandwidth::{self, BlockSizeSweep};
use chainpost_experiment::cluster::find_node_binary;
use chainpost_experiment::config::{ConfigError, ExperimentConfig, Settings, Swept};
use chainpost_experiment::record::RunRecord;
use chainpost_experiment::report;
use chainpost_experiment::run::{self, write_json};
use chainpost_experiment::sweep::SweepPoint;
use chainpost_experiment::sweep::swept_by;

/// Run networks of real chainpost nodes on this machine and measure their forks.
#[derive(Debug, Parser)]
#[command(name = "experiment", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run one experiment.
    Run {
        #[command(flatten)]
        common: Common,
    },
    /// Run one experiment per value of the file's `[sweep]` table (or --latencies, or
    /// --post-rates), each in its own subdirectory of --out, then compare them with
    /// theory: latencies give stale rate against propagation delay, post rates (with a
    /// bandwidth) stale rate against block size.
    Sweep {
        /// One-way link latencies to run, in milliseconds (replaces the `[sweep]` table).
        #[arg(long, value_delimiter = ',')]
        latencies: Option<Vec<f64>>,
        /// Mean post rates to run, per second (replaces the `[sweep]` table).
        #[arg(long, value_delimiter = ',')]
        post_rates: Option<Vec<f64>>,
        #[command(flatten)]
        common: Common,
    },
    /// Rewrite a post after z confirmations: trials of the double-spend race on real
    /// nodes for each attacker share and confirmation count, against the formulas.
    Attack {
        /// TOML file of parameters; the flags below override it.
        #[arg(long)]
        config: Option<PathBuf>,
        /// The node executable [default: `node` beside this one].
        #[arg(long)]
        node_bin: Option<PathBuf>,
        #[command(flatten)]
        settings: AttackSettings,
    },
    /// Selfish mining: a pool withholding its blocks as Eyal and Sirer's strategy says,
    /// for each pool share and arrival of its matching block, against their revenue.
    Selfish {
        /// TOML file of parameters; the flags below override it.
        #[arg(long)]
        config: Option<PathBuf>,
        /// The node executable [default: `node` beside this one].
        #[arg(long)]
        node_bin: Option<PathBuf>,
        #[command(flatten)]
        settings: SelfishSettings,
    },
    /// Recompute the results and charts of a run directory (one with run.json), an attack
    /// directory (attack.json or selfish.json), or a sweep directory (one whose
    /// subdirectories hold runs), from what they recorded.
    Reanalyze {
        /// The run's or sweep's output directory.
        dir: PathBuf,
    },
}

#[derive(Debug, clap::Args)]
struct Common {
    /// TOML file of parameters; the flags below override it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// The node executable [default: `node` beside this one].
    #[arg(long)]
    node_bin: Option<PathBuf>,
    #[command(flatten)]
    settings: Settings,
}

impl Common {
    fn settings(self) -> Result<(Settings, Option<PathBuf>), ConfigError> {
        let file = match &self.config {
            Some(path) => Settings::from_file(path)?,
            None => Settings::default(),
        };
        Ok((file.overridden_by(self.settings), self.node_bin))
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    // Dropping the work on a signal drops the network, which kills every node.
    let outcome = tokio::select! {
        outcome = execute(cli.command) => outcome,
        () = shutdown_signal() => Err(anyhow::anyhow!("interrupted; every node was stopped")),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn execute(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Run { common } => {
            let (settings, node_bin) = common.settings()?;
            let config = ExperimentConfig::from_settings(settings)?;
            let node_bin = find_node_binary(node_bin.as_deref())?;
            run_one(&config, &node_bin).await?;
            Ok(())
        }
        Command::Sweep {
            latencies,
            post_rates,
            common,
        } => {
            let (settings, node_bin) = common.settings()?;
            let axis = settings.sweep_axis(latencies, post_rates)?;
            let base = ExperimentConfig::from_settings(settings.clone())?;
            // Every run is checked before the first starts.
            let configs = axis
                .runs(&settings, &base.out_dir)
                .into_iter()
                .map(ExperimentConfig::from_settings)
                .collect::<Result<Vec<_>, _>>()?;
            let node_bin = find_node_binary(node_bin.as_deref())?;
            let mut runs = Vec::new();
            for config in &configs {
                runs.push(run_one(config, &node_bin).await?);
            }
            match axis.swept {
                Swept::PostsPerSec => write_block_size_sweep(&runs, &base.out_dir),
                swept => write_sweep(&runs, base.nodes, swept, &base.out_dir),
            }
        }
        Command::Attack {
            config,
            node_bin,
            settings,
        } => {
            let file = match &config {
                Some(path) => AttackSettings::from_file(path)?,
                None => AttackSettings::default(),
            };
            let config = AttackConfig::from_settings(file.overridden_by(settings))?;
            let node_bin = find_node_binary(node_bin.as_deref())?;
            attack(&config, &node_bin).await
        }
        Command::Selfish {
            config,
            node_bin,
            settings,
        } => {
            let file = match &config {
                Some(path) => SelfishSettings::from_file(path)?,
                None => SelfishSettings::default(),
            };
            let config = SelfishConfig::from_settings(file.overridden_by(settings))?;
            let node_bin = find_node_binary(node_bin.as_deref())?;
            selfish_mining(&config, &node_bin).await
        }
        Command::Reanalyze { dir } => reanalyze(&dir),
    }
}

/// Runs the selfish mining `config` describes and writes `selfish.json` and its reports.
async fn selfish_mining(config: &SelfishConfig, node_bin: &Path) -> anyhow::Result<()> {
    let out = &config.out_dir;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let record = selfish::run::run(config, node_bin).await?;
    write_json(&out.join("selfish.json"), &record)?;
    let results = selfish::analysis::analyze(&record);
    selfish::report::write_selfish(&results, out)?;
    tracing::info!(runs = record.runs.len(), secs = record.took_secs, out = %out.display(), "selfish mining written");
    Ok(())
}

/// Runs the attack `config` describes and writes `attack.json` and its reports.
async fn attack(config: &AttackConfig, node_bin: &Path) -> anyhow::Result<()> {
    let out = &config.out_dir;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let record = double_spend::run::run(config, node_bin).await?;
    write_json(&out.join("attack.json"), &record)?;
    let results = analyze_attack(&record, out)?;
    tracing::info!(
        trials = results.trials,
        followed_first_seen = results.followed_first_seen,
        followed_attacker_wins_ties = results.followed_attacker_wins_ties,
        posts_lost = results.posts_lost,
        secs = record.took_secs,
        out = %out.display(),
        "attack written"
    );
    Ok(())
}

/// Writes the results of `record` into `dir`.
fn analyze_attack(record: &AttackRecord, dir: &Path) -> anyhow::Result<AttackResults> {
    let results = double_spend::analysis::analyze(record);
    attack_report::write_attack(&results, dir)?;
    Ok(results)
}

fn reanalyze(dir: &Path) -> anyhow::Result<()> {
    let attack = dir.join("attack.json");
    if attack.is_file() {
        analyze_attack(&read_record(&attack, "an attack record")?, dir)?;
        return Ok(());
    }
    let selfish_record = dir.join("selfish.json");
    if selfish_record.is_file() {
        let record: SelfishRecord = read_record(&selfish_record, "a selfish-mining record")?;
        selfish::report::write_selfish(&selfish::analysis::analyze(&record), dir)?;
        return Ok(());
    }
    if dir.join("run.json").is_file() {
        analyze_recorded(dir)?;
        return Ok(());
    }
    let mut run_dirs: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.join("run.json").is_file())
        .collect();
    run_dirs.sort();
    let mut runs = run_dirs
        .iter()
        .map(|run| analyze_recorded(run))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let Some(nodes) = runs.last().map(|(record, _)| record.nodes) else {
        anyhow::bail!(
            "{} holds neither run.json nor runs in its subdirectories",
            dir.display()
        );
    };
    let records: Vec<&RunRecord> = runs.iter().map(|(record, _)| record).collect();
    let swept = swept_by(&records);
    // Directory names sort "latency-150ms" before "latency-20ms": order by the value.
    let value = |record: &RunRecord| match swept {
        Swept::LatencyMs => record.link_latency_ms,
        Swept::BlockIntervalSecs => record.target_block_interval_secs,
        Swept::PostsPerSec => record.posts_per_sec.unwrap_or(0.0),
    };
    runs.sort_by(|(a, _), (b, _)| value(a).total_cmp(&value(b)));
    match swept {
        Swept::PostsPerSec => write_block_size_sweep(&runs, dir),
        Swept::LatencyMs | Swept::BlockIntervalSecs => write_sweep(&runs, nodes, swept, dir),
    }
}

/// Writes the block-size sweep of `runs` into `dir`.
fn write_block_size_sweep(runs: &[(RunRecord, Results)], dir: &Path) -> anyhow::Result<()> {
    let sweep = BlockSizeSweep::from_runs(runs)?;
    bandwidth::report::write_block_size_sweep(&sweep, dir)?;
    tracing::info!(out = %dir.display(), points = sweep.points().len(), "block-size sweep written");
    Ok(())
}

/// Writes the d/T sweep of `runs` into `dir`, a point per run in their order; a run that
/// gives no point is left out with a warning. `nodes` is the miners the prediction is drawn
/// for.
fn write_sweep(
    runs: &[(RunRecord, Results)],
    nodes: usize,
    swept: Swept,
    dir: &Path,
) -> anyhow::Result<()> {
    let points: Vec<SweepPoint> = runs
        .iter()
        .filter_map(
            |(record, results)| match SweepPoint::from_run(record, results) {
                Ok(point) => Some(point),
                Err(error) => {
                    let latency_ms = record.link_latency_ms;
                    tracing::warn!(latency_ms, %error, "this run gives no sweep point");
                    None
                }
            },
        )
        .collect();
    report::write_sweep(&points, nodes, swept, dir)?;
    tracing::info!(out = %dir.display(), points = points.len(), "sweep written");
    Ok(())
}

/// Re-reads a run's record and logs and rewrites its results and charts.
fn analyze_recorded(dir: &Path) -> anyhow::Result<(RunRecord, Results)> {
    let record: RunRecord = read_record(&dir.join("run.json"), "a run record")?;
    let results = analysis::analyze(&record)?;
    report::write_all(&record, &results, dir)?;
    Ok((record, results))
}

/// A record a run wrote as JSON to `path`; `what` names it in the error.
fn read_record<T: serde::de::DeserializeOwned>(path: &Path, what: &str) -> anyhow::Result<T> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not {what}", path.display()))
}

/// Runs one experiment and writes `config.json`, `run.json` and the reports.
async fn run_one(
    config: &ExperimentConfig,
    node_bin: &Path,
) -> anyhow::Result<(RunRecord, Results)> {
    let out = &config.out_dir;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    write_json(&out.join("config.json"), config)?;
    let record = run::run(config, node_bin).await?;
    write_json(&out.join("run.json"), &record)?;
    let results = analysis::analyze(&record)?;
    report::write_all(&record, &results, out)?;
    tracing::info!(
        mined = results.mined_blocks,
        stale = results.stale_blocks,
        stale_rate = ?results.stale_rate,
        d_over_t = ?results.d_over_t,
        predicted_stale_rate = ?results.predicted_stale_rate,
        posts_confirmed = results.posts_confirmed,
        posts_unconfirmed = results.posts_unconfirmed,
        out = %out.display(),
        "run written"
    );
    Ok((record, results))
}
