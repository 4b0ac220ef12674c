//! The `experiment` command end to end: real node processes, real relays, real proof of
//! work, small enough to run in seconds.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use chainpost_experiment::analysis;
use chainpost_experiment::attack::double_spend::Outcome;
use chainpost_experiment::attack::double_spend::analysis::AttackResults;
use chainpost_experiment::attack::double_spend::config::{AttackConfig, AttackSettings};
use chainpost_experiment::attack::double_spend::record::AttackRecord;
use chainpost_experiment::attack::selfish::analysis::SelfishResults;
use chainpost_experiment::attack::selfish::{
    Arrival, SelfishConfig, SelfishRecord, SelfishSettings,
};
use chainpost_experiment::config::{ExperimentConfig, Settings};
use chainpost_experiment::record::RunRecord;

/// Seconds a post may take to reach every node of a three-node ring with 20 ms links,
/// with generous room for a loaded test machine.
const GOSSIP_ALLOWANCE_SECS: f64 = 0.5;

fn experiment() -> Command {
    Command::new(env!("CARGO_BIN_EXE_experiment"))
}

/// The node executable that `cargo test --workspace` builds beside this crate's binary.
fn node_binary() -> PathBuf {
    let experiment = Path::new(env!("CARGO_BIN_EXE_experiment"));
    let node = experiment.with_file_name(format!("node{}", std::env::consts::EXE_SUFFIX));
    assert!(
        node.is_file(),
        "no node executable at {}; `cargo test --workspace` builds it, or run \
         `cargo build -p node` before `cargo test -p experiment`",
        node.display()
    );
    node
}

fn stderr_of(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The JSON file `name` of `dir`, read as a `T`.
fn read_json<T: serde::de::DeserializeOwned>(dir: &Path, name: &str) -> T {
    let bytes = std::fs::read(dir.join(name)).unwrap_or_else(|error| panic!("{name}: {error}"));
    serde_json::from_slice(&bytes).unwrap_or_else(|error| panic!("{name}: {error}"))
}

/// `experiment reanalyze dir`, asserting that it succeeded.
fn reanalyze(dir: &Path) {
    let output = experiment()
        .arg("reanalyze")
        .arg(dir)
        .output()
        .expect("experiment runs");
    assert!(output.status.success(), "{}", stderr_of(&output));
}

/// Removes `file` of `dir`, reanalyses `dir` and asserts that the file came back as it was.
fn assert_reanalysis_rewrites(dir: &Path, file: &str) {
    let path = dir.join(file);
    let written = std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{file}: {error}"));
    std::fs::remove_file(&path).expect("removed");
    reanalyze(dir);
    let rebuilt = std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{file}: {error}"));
    assert_eq!(rebuilt, written, "{file} rebuilt otherwise");
}

/// `experiment run` with the workspace's node and `settings`, into a new directory; asserts
/// that it succeeded and returns the directory and the run record it wrote.
fn run_experiment(settings: &[&str]) -> (tempfile::TempDir, RunRecord) {
    let out = tempfile::tempdir().expect("temporary directory");
    let output = experiment()
        .args(["run", "--node-bin"])
        .arg(node_binary())
        .args(settings)
        .arg("--out")
        .arg(out.path())
        .output()
        .expect("experiment runs");
    assert!(output.status.success(), "{}", stderr_of(&output));
    let record = read_json(out.path(), "run.json");
    (out, record)
}

#[test]
fn a_small_ring_mines_together_agrees_and_confirms_its_posts() {
    let (out, record) = run_experiment(&[
        "--nodes",
        "3",
        "--topology",
        "ring",
        "--latency-ms",
        "20",
        "--difficulty",
        "12",
        "--block-interval-secs",
        "0.5",
        "--duration-secs",
        "7",
        "--posts-per-sec",
        "4",
        "--seed",
        "11",
        "--settle-timeout-secs",
        "15",
        // A split left when mining stops is decided after a quiet sync interval.
        "--sync-interval-secs",
        "1",
    ]);
    for file in ["config.json", "results.json", "blocks.csv", "summary.svg"] {
        assert!(out.path().join(file).is_file(), "{file} not written");
    }
    assert_eq!(record.nodes, 3);
    assert_eq!(record.links, vec![(0, 1), (0, 2), (1, 2)]);
    assert!(record.mining_stopped_at - record.mining_started_at >= 7.0);

    // Every node ended on one tip, and the main chain is that tip's chain.
    assert!(record.settled_after_secs.is_some(), "nodes never agreed");
    let tip = &record.final_tips[0];
    assert!(
        record.final_tips.iter().all(|other| other == tip),
        "{:?}",
        record.final_tips
    );
    let last = record.main_chain.last().expect("main chain");
    assert_eq!((&last.hash, last.height), (&tip.hash, tip.height));
    assert!(tip.height >= 3, "only {} blocks in 7 s", tip.height);
    assert!(
        record
            .main_chain
            .iter()
            .enumerate()
            .all(|(height, block)| block.height == height as u64),
        "main chain is not genesis first, one block per height"
    );

    // The work was shared: more than one node got blocks of its own accepted.
    let results = analysis::analyze(&record).expect("the run's event streams analyse");
    let miners = results
        .per_node
        .iter()
        .filter(|node| node.mined > 0)
        .count();
    assert!(
        miners > 1,
        "only {miners} node mined: {:?}",
        results.per_node
    );

    // The last main-chain block mined in the window was searched for from when its parent
    // was mined, so every post acknowledged (and gossiped) before then was in every pool
    // when its template was built: the main chain must carry it. (Later blocks may be the
    // ones that decided a split after the window.)
    assert!(!record.posts.is_empty(), "no post was acknowledged");
    let window_main: Vec<_> = results
        .rows
        .blocks
        .iter()
        .filter(|block| block.on_main_chain)
        .collect();
    let last_height = window_main
        .iter()
        .map(|block| block.height)
        .max()
        .expect("main-chain blocks mined in the window");
    let parent_mined_at = window_main
        .iter()
        .find(|block| block.height + 1 == last_height)
        .map(|block| block.mined_at)
        .expect("the last window block's parent was mined in the window");
    let on_chain: std::collections::HashSet<&str> = record
        .main_chain
        .iter()
        .flat_map(|block| block.post_ids.iter().map(String::as_str))
        .collect();
    let due: Vec<_> = record
        .posts
        .iter()
        .filter(|post| post.submitted_at + GOSSIP_ALLOWANCE_SECS < parent_mined_at)
        .collect();
    assert!(!due.is_empty(), "no post was old enough to be due");
    for post in due {
        assert!(
            on_chain.contains(post.id.as_str()),
            "post {} is missing",
            post.id
        );
    }
    assert_eq!(
        results.posts_confirmed + results.posts_unconfirmed,
        record.posts.len()
    );
}

#[test]
fn a_sweep_runs_once_per_latency_and_compares_them() {
    let out = tempfile::tempdir().expect("temporary directory");
    let output = experiment()
        .args(["sweep", "--latencies", "0,150", "--node-bin"])
        .arg(node_binary())
        .args([
            "--nodes",
            "3",
            "--difficulty",
            "10",
            "--block-interval-secs",
            "0.3",
            "--duration-secs",
            "3",
            "--posts-per-sec",
            "0",
            "--out",
        ])
        .arg(out.path())
        .output()
        .expect("experiment runs");
    assert!(output.status.success(), "{}", stderr_of(&output));
    for latency in [0.0, 150.0] {
        let run = out
            .path()
            .join(format!("latency-{latency}ms"))
            .join("run.json");
        let record: RunRecord =
            serde_json::from_slice(&std::fs::read(&run).expect("run.json written"))
                .expect("run.json is a run record");
        assert_eq!(record.link_latency_ms, latency);
    }
    let sweep = std::fs::read_to_string(out.path().join("sweep.csv")).expect("sweep.csv");
    assert!(sweep.starts_with("latency_ms,"), "{sweep}");
    assert!(out.path().join("stale-rate.svg").is_file());

    // Reanalysing from the records alone rebuilds the same sweep.
    std::fs::remove_file(out.path().join("latency-0ms").join("results.json")).expect("removed");
    assert_reanalysis_rewrites(out.path(), "sweep.csv");
    assert!(
        out.path()
            .join("latency-0ms")
            .join("results.json")
            .is_file()
    );
}

#[test]
fn a_block_size_sweep_holds_each_block_for_its_size_on_capped_links() {
    let out = tempfile::tempdir().expect("temporary directory");
    let output = experiment()
        .args(["sweep", "--post-rates", "0,30", "--node-bin"])
        .arg(node_binary())
        .args([
            "--nodes",
            "3",
            "--latency-ms",
            "20",
            // 62,500 bytes a second each way.
            "--bandwidth-mbps",
            "0.5",
            "--post-chars",
            "1000",
            "--difficulty",
            "11",
            "--block-interval-secs",
            "0.5",
            "--duration-secs",
            "6",
            "--seed",
            "3",
            "--out",
        ])
        .arg(out.path())
        .output()
        .expect("experiment runs");
    assert!(output.status.success(), "{}", stderr_of(&output));
    let mut mean_sizes = Vec::new();
    for rate in [0.0, 30.0] {
        let dir = out.path().join(format!("posts-{rate}-per-sec"));
        let record: RunRecord = read_json(&dir, "run.json");
        assert_eq!(record.posts_per_sec, Some(rate));
        let sizes: std::collections::HashMap<&str, usize> = record
            .block_sizes
            .iter()
            .map(|block| (block.hash.as_str(), block.bytes))
            .collect();
        // Every main-chain block above genesis was sized, with its posts.
        for block in record.main_chain.iter().skip(1) {
            let size = record
                .block_sizes
                .iter()
                .find(|sized| sized.hash == block.hash)
                .unwrap_or_else(|| panic!("block {} has no size", block.hash));
            assert_eq!(size.posts, block.post_ids.len());
        }
        // No block reached a node sooner than its bytes take over the link, plus latency.
        let mut delays = csv::Reader::from_path(dir.join("propagation.csv")).expect("csv");
        let mut checked = 0;
        for row in delays.records() {
            let row = row.expect("a row");
            let (hash, delay) = (&row[0], row[2].parse::<f64>().expect("a delay"));
            let Some(&bytes) = sizes.get(hash) else {
                continue;
            };
            let least = 0.020 + bytes as f64 / 62_500.0;
            assert!(
                delay >= least,
                "block {hash} of {bytes} bytes took {delay} s"
            );
            checked += 1;
        }
        assert!(checked > 0, "no delay measured at {rate} posts a second");
        let total: usize = sizes.values().sum();
        mean_sizes.push(total as f64 / sizes.len().max(1) as f64);
    }
    assert!(
        mean_sizes[1] > 5.0 * mean_sizes[0],
        "blocks did not grow with the post rate: {mean_sizes:?}"
    );
    let sweep = std::fs::read_to_string(out.path().join("block-size.csv")).expect("csv");
    assert!(sweep.starts_with("posts_per_sec,"), "{sweep}");
    assert_eq!(sweep.lines().count(), 3, "{sweep}");
    assert!(out.path().join("block-size.svg").is_file());

    // Reanalysing tells a sweep of post rates from one of latencies by what differs.
    assert_reanalysis_rewrites(out.path(), "block-size.csv");
    assert!(!out.path().join("sweep.csv").exists());
}

#[test]
fn nodes_in_regions_reach_each_other_with_the_latency_between_their_regions() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let config = dir.path().join("regions.toml");
    std::fs::write(
        &config,
        "nodes = 4\ndifficulty = 10\nblock_interval_secs = 0.5\nduration_secs = 5\n\
         posts_per_sec = 0\nseed = 5\n\
         [regions]\nnames = [\"near\", \"far\"]\nshares = [1.0, 1.0]\n\
         latency_ms = [[10.0, 300.0], [300.0, 10.0]]\n",
    )
    .expect("written");
    let out = dir.path().join("out");
    let output = experiment()
        .args(["run", "--node-bin"])
        .arg(node_binary())
        .arg("--config")
        .arg(&config)
        .arg("--out")
        .arg(&out)
        .output()
        .expect("experiment runs");
    assert!(output.status.success(), "{}", stderr_of(&output));
    let record: RunRecord = read_json(&out, "run.json");
    let mut placed = record.node_regions.clone();
    placed.sort_unstable();
    assert_eq!(placed, [0, 0, 1, 1], "two nodes a region");

    let mut miners = std::collections::HashMap::new();
    for row in csv::Reader::from_path(out.join("blocks.csv"))
        .expect("blocks.csv")
        .records()
    {
        let row = row.expect("a row");
        miners.insert(row[0].to_owned(), row[2].parse::<usize>().expect("a miner"));
    }
    let (mut within, mut across) = (Vec::new(), Vec::new());
    for row in csv::Reader::from_path(out.join("propagation.csv"))
        .expect("propagation.csv")
        .records()
    {
        let row = row.expect("a row");
        let miner = miners[&row[0]];
        let node: usize = row[1].parse().expect("a node");
        let delay: f64 = row[2].parse().expect("a delay");
        if record.node_regions[miner] == record.node_regions[node] {
            within.push(delay);
        } else {
            // In a mesh the block comes straight from its miner, or later through a third.
            assert!(delay >= 0.3, "a block crossed regions in {delay} s");
            across.push(delay);
        }
    }
    assert!(
        !within.is_empty() && !across.is_empty(),
        "{within:?} {across:?}"
    );
    let mean = |delays: &[f64]| delays.iter().sum::<f64>() / delays.len() as f64;
    assert!(mean(&within) < mean(&across), "{within:?} {across:?}");
}

#[cfg(unix)]
#[test]
fn a_node_that_dies_at_start_up_is_named_with_its_log() {
    let out = tempfile::tempdir().expect("temporary directory");
    // `node --no-such-flag` exits at once, complaining on stderr.
    let script = out.path().join("broken-node");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nexec {} --no-such-flag\n",
            node_binary().display()
        ),
    )
    .expect("script written");
    make_executable(&script);
    // Left by an earlier run into the same directory: a new run starts its streams afresh.
    let stale_events = out.path().join("logs").join("node-0.events.ndjson");
    std::fs::create_dir_all(out.path().join("logs")).expect("logs directory");
    std::fs::write(&stale_events, "from an earlier run\n").expect("stale stream written");
    let output = experiment()
        .args(["run", "--nodes", "3", "--duration-secs", "1", "--node-bin"])
        .arg(&script)
        .arg("--out")
        .arg(out.path())
        .output()
        .expect("experiment runs");
    assert!(!output.status.success());
    let stderr = stderr_of(&output);
    assert!(
        stderr.contains("exited") && stderr.contains("--no-such-flag"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(&stale_events).expect("stream still there"),
        "",
        "the earlier run's events were kept"
    );
}

#[test]
fn bad_parameters_are_refused_by_name_before_anything_starts() {
    let out = tempfile::tempdir().expect("temporary directory");
    let config = out.path().join("experiment.toml");
    let cases = [
        ("nodes = 4\nhash_shares = [1.0, 1.0]\n", "hash_shares"),
        ("node = 4\n", "unknown field"),
    ];
    for (toml, named) in cases {
        std::fs::write(&config, toml).expect("config written");
        let output = experiment()
            .args(["run", "--config"])
            .arg(&config)
            .arg("--out")
            .arg(out.path())
            .output()
            .expect("experiment runs");
        assert!(!output.status.success());
        assert!(stderr_of(&output).contains(named), "{}", stderr_of(&output));
        assert!(!out.path().join("logs").exists(), "a node was started");
    }
}

#[cfg(unix)]
fn make_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

#[test]
fn every_example_configuration_is_valid() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut checked = 0;
    for entry in std::fs::read_dir(&examples).expect("examples directory") {
        let path = entry.expect("directory entry").path();
        if path.extension().is_none_or(|extension| extension != "toml") {
            continue;
        }
        let settings = Settings::from_file(&path).unwrap_or_else(|error| panic!("{error:?}"));
        let out = Settings {
            out_dir: Some("out".into()),
            ..Settings::default()
        };
        if settings.sweep.is_some() {
            settings
                .sweep_axis(None, None)
                .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
        }
        ExperimentConfig::from_settings(settings.overridden_by(out))
            .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
        checked += 1;
    }
    assert!(checked >= 4, "only {checked} example configurations");
    let mut attacks = 0;
    for entry in std::fs::read_dir(examples.join("attack")).expect("attack examples") {
        let path = entry.expect("directory entry").path();
        let name = path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned());
        let checked = if name.is_some_and(|name| name.starts_with("selfish")) {
            let settings = SelfishSettings::from_file(&path);
            let out = SelfishSettings {
                out_dir: Some("out".into()),
                ..SelfishSettings::default()
            };
            settings.and_then(|settings| {
                SelfishConfig::from_settings(settings.overridden_by(out)).map(drop)
            })
        } else {
            let settings = AttackSettings::from_file(&path);
            let out = AttackSettings {
                out_dir: Some("out".into()),
                ..AttackSettings::default()
            };
            settings.and_then(|settings| {
                AttackConfig::from_settings(settings.overridden_by(out)).map(drop)
            })
        };
        checked.unwrap_or_else(|error| panic!("{}: {error}", path.display()));
        attacks += 1;
    }
    assert!(attacks >= 4, "only {attacks} attack configurations");
}

/// The double-spend race on real nodes, a few trials of two cells: every trial ends as the
/// nodes' first-seen rule says, which a node that took a tie would break, and the
/// reanalysis of the record rebuilds the same results.
#[test]
fn a_small_double_spend_attack_follows_the_first_seen_rule_in_every_trial() {
    let out = tempfile::tempdir().expect("temporary directory");
    let output = experiment()
        .args(["attack", "--node-bin"])
        .arg(node_binary())
        .args([
            "--attacker-shares",
            "0.3",
            "--confirmations",
            "1,2",
            "--trials",
            "12",
            "--give-up-behind",
            "4",
            "--seed",
            "5",
            "--out",
        ])
        .arg(out.path())
        .output()
        .expect("experiment runs");
    assert!(output.status.success(), "{}", stderr_of(&output));
    let record: AttackRecord = read_json(out.path(), "attack.json");
    let results: AttackResults = read_json(out.path(), "attack-results.json");
    assert_eq!(record.trials.len(), 24);
    assert_eq!(results.followed_first_seen, 24, "{results:?}");
    assert_eq!(results.posts_lost, 0);
    // The seed gives races that end both ways and ties the nodes refused.
    let rewritten = record
        .trials
        .iter()
        .filter(|trial| trial.outcome == Outcome::Rewritten)
        .count();
    assert!(0 < rewritten && rewritten < 24, "{rewritten} rewritten");
    assert!(results.ties_kept > 0);
    assert!(
        results.followed_attacker_wins_ties < 24,
        "no trial tells the tie rules apart"
    );
    for trial in &record.trials {
        let honest = trial.finders.matches('H').count() as u64;
        match trial.outcome {
            Outcome::Rewritten => assert_eq!(trial.reverted, honest, "{trial:?}"),
            Outcome::GaveUp => assert_eq!(trial.reverted, 0, "{trial:?}"),
        }
    }
    let csv = std::fs::read_to_string(out.path().join("double-spend.csv")).expect("csv");
    assert_eq!(csv.lines().count(), 3, "{csv}");
    assert!(out.path().join("double-spend.svg").is_file());
    assert_reanalysis_rewrites(out.path(), "double-spend.csv");
}

#[test]
fn a_double_spend_attack_with_bad_parameters_starts_nothing() {
    let out = tempfile::tempdir().expect("temporary directory");
    for (flags, named) in [
        (["--confirmations", "0"], "confirmations"),
        (["--attacker-shares", "0.5"], "attacker_shares"),
    ] {
        let output = experiment()
            .arg("attack")
            .args(flags)
            .arg("--out")
            .arg(out.path())
            .output()
            .expect("experiment runs");
        assert!(!output.status.success());
        assert!(stderr_of(&output).contains(named), "{}", stderr_of(&output));
        assert!(!out.path().join("logs").exists(), "a node was started");
    }
}

#[test]
fn a_run_with_simulated_mining_mines_real_blocks_that_every_node_agrees_on() {
    let (out, record) = run_experiment(&[
        "--nodes",
        "3",
        "--latency-ms",
        "10",
        "--difficulty",
        "12",
        "--block-interval-secs",
        "0.5",
        "--duration-secs",
        "4",
        "--posts-per-sec",
        "2",
        "--seed",
        "3",
        "--simulated-mining",
        "true",
        "--settle-timeout-secs",
        "15",
        "--sync-interval-secs",
        "1",
    ]);
    let config: serde_json::Value = serde_json::from_slice(
        &std::fs::read(out.path().join("config.json")).expect("config.json written"),
    )
    .expect("JSON");
    assert_eq!(config["simulated_mining"], true);
    assert!(record.settled_after_secs.is_some(), "nodes never agreed");
    let tip = &record.final_tips[0];
    assert!(record.final_tips.iter().all(|other| other == tip));
    assert!(tip.height >= 2, "only {} blocks in 4 s", tip.height);
}

/// Selfish mining on real nodes, one pool share in both arrivals: the pool's late block
/// wins no tie, its early one wins some, and the record reanalyses to the same results.
#[test]
fn a_small_selfish_mining_run_measures_gamma_from_when_the_pools_block_arrives() {
    let out = tempfile::tempdir().expect("temporary directory");
    let output = experiment()
        .args(["selfish", "--node-bin"])
        .arg(node_binary())
        .args([
            "--pool-shares",
            "0.4",
            "--blocks",
            "120",
            "--seed",
            "3",
            "--out",
        ])
        .arg(out.path())
        .output()
        .expect("experiment runs");
    assert!(output.status.success(), "{}", stderr_of(&output));
    let record: SelfishRecord = read_json(out.path(), "selfish.json");
    let results: SelfishResults = read_json(out.path(), "selfish-results.json");
    assert_eq!(record.runs.len(), 2);
    for run in &record.runs {
        assert_eq!(run.finders.len(), 120);
        let found = run.finders.len() as u64;
        let settled = run.main_chain.len() as u64;
        assert!(0 < settled && settled <= found, "{run:?}");
        assert_eq!(run.settled_at.last(), Some(&settled), "{run:?}");
        assert!(run.settled_at.is_sorted(), "{run:?}");
        assert!(run.tie_blocks > 0, "the seed gives no tie: {run:?}");
    }
    let gamma = |arrival| {
        results
            .points
            .iter()
            .find(|point| point.arrival == arrival)
            .and_then(|point| point.measured_gamma)
            .expect("ties measured")
    };
    assert_eq!(gamma(Arrival::Last), 0.0);
    assert!(
        gamma(Arrival::First) > 0.0,
        "no honest node took the pool's block"
    );
    assert!(out.path().join("selfish-mining.svg").is_file());

    assert_reanalysis_rewrites(out.path(), "selfish-mining.csv");
}

/// The README's attack tables and charts come from the records in `docs/`: reanalysing a
/// record gives back, byte for byte, the files committed beside it.
#[test]
fn the_recorded_attack_runs_reanalyze_to_the_files_beside_them() {
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs");
    for (dir, record, files) in [
        (
            "double-spend",
            "attack.json",
            [
                "attack-results.json",
                "double-spend.csv",
                "double-spend.svg",
            ],
        ),
        (
            "selfish-mining",
            "selfish.json",
            [
                "selfish-results.json",
                "selfish-mining.csv",
                "selfish-mining.svg",
            ],
        ),
    ] {
        let committed = docs.join(dir);
        let out = tempfile::tempdir().expect("temporary directory");
        std::fs::copy(committed.join(record), out.path().join(record)).expect("record copied");
        reanalyze(out.path());
        for file in files {
            let written = std::fs::read(out.path().join(file)).expect("written");
            let expected = std::fs::read(committed.join(file)).expect("committed");
            assert!(
                written == expected,
                "docs/{dir}/{file} is not what `experiment reanalyze` writes from its record"
            );
        }
    }
}
