//! Writes a run's results, and a sweep's points, as files a person or a script can use:
//! JSON for the numbers, CSV for the per-item rows, and SVG charts.
//!
//! Boundary: the only module of the analysis that writes files; it computes nothing beyond
//! what a chart needs to lay itself out (axis ranges, cumulative fractions, sample curves).
//! CSV files always start with their header, even without rows, so scripts that read them
//! need no special case for a run without reorganizations.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use serde::Serialize;

use crate::analysis::Results;
use crate::config::Swept;
use crate::record::RunRecord;
use crate::sweep::{SweepPoint, point_label};
use crate::theory::{stale_probability, stale_rate_counting_each_fork_once};

/// Column names of `blocks.csv`, in [`crate::analysis::BlockRow`]'s field order.
const BLOCKS_HEADER: &[&str] = &[
    "hash",
    "height",
    "miner",
    "mined_at",
    "on_main_chain",
    "reached_all_after_secs",
];
/// Column names of `propagation.csv`, in [`crate::analysis::PropagationRow`]'s field order.
const PROPAGATION_HEADER: &[&str] = &["hash", "node", "delay_secs"];
/// Column names of `reorgs.csv`, in [`crate::analysis::ReorgRow`]'s field order.
const REORGS_HEADER: &[&str] = &["node", "at", "depth"];
/// Column names of `posts.csv`, in [`crate::analysis::PostRow`]'s field order.
const POSTS_HEADER: &[&str] = &["id", "node", "submitted_at", "confirmed_at", "latency_secs"];
/// Column names of `sweep.csv`, in [`SweepPoint`]'s field order.
const SWEEP_HEADER: &[&str] = &[
    "latency_ms",
    "block_interval_secs",
    "d_secs",
    "t_secs",
    "d_over_t",
    "measured_stale_rate",
    "stale_blocks",
    "mined_blocks",
    "predicted_stale_rate",
    "predicted_each_fork_once",
    "ci_low",
    "ci_high",
];

// Colours that stay apart for readers with the common colour-vision deficiencies.
pub(crate) const BLUE: RGBColor = RGBColor(0, 114, 178);
pub(crate) const ORANGE: RGBColor = RGBColor(230, 159, 0);
pub(crate) const VERMILION: RGBColor = RGBColor(213, 94, 0);
pub(crate) const GREY: RGBColor = RGBColor(90, 90, 90);

pub(crate) const FONT: &str = "sans-serif";

/// Why a report could not be written.
///
/// Messages leave the cause to [`std::error::Error::source`], so that `{:#}` in `main`
/// shows each cause once.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A directory or file could not be created.
    #[error("creating {path}")]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A file could not be written.
    #[error("writing {path}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A JSON file could not be written.
    #[error("writing {path}")]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
    /// A CSV file could not be written.
    #[error("writing {path}")]
    Csv { path: PathBuf, source: csv::Error },
    /// A chart could not be drawn.
    #[error("drawing {path}")]
    Chart {
        /// The SVG file.
        path: PathBuf,
        source: DrawError,
    },
}

/// Why plotters could not draw a chart into its SVG file.
pub(crate) type DrawError = DrawingAreaErrorKind<std::io::Error>;

/// Writes one run's `results.json`, `blocks.csv`, `propagation.csv`, `reorgs.csv`,
/// `posts.csv` and `summary.svg` into `out_dir`, creating it if needed.
pub fn write_all(record: &RunRecord, results: &Results, out_dir: &Path) -> Result<(), ReportError> {
    create_dir(out_dir)?;
    write_json(&out_dir.join("results.json"), results)?;
    let rows = &results.rows;
    write_csv(&out_dir.join("blocks.csv"), BLOCKS_HEADER, &rows.blocks)?;
    write_csv(
        &out_dir.join("propagation.csv"),
        PROPAGATION_HEADER,
        &rows.propagation,
    )?;
    write_csv(&out_dir.join("reorgs.csv"), REORGS_HEADER, &rows.reorgs)?;
    write_csv(&out_dir.join("posts.csv"), POSTS_HEADER, &rows.posts)?;
    let chart = out_dir.join("summary.svg");
    draw_summary(record, results, &chart).map_err(|source| ReportError::Chart {
        path: chart,
        source,
    })
}

/// Writes a latency sweep's `sweep.csv`, `sweep.json` and `stale-rate.svg` (measured stale
/// rate with 95% intervals against `d/T`, and the curve theory predicts for `nodes` equal
/// miners) into `out_dir`, creating it if needed.
pub fn write_sweep(
    points: &[SweepPoint],
    nodes: usize,
    swept: Swept,
    out_dir: &Path,
) -> Result<(), ReportError> {
    create_dir(out_dir)?;
    write_csv(&out_dir.join("sweep.csv"), SWEEP_HEADER, points)?;
    write_json(&out_dir.join("sweep.json"), &points)?;
    let chart = out_dir.join("stale-rate.svg");
    draw_sweep(points, nodes, swept, &chart).map_err(|source| ReportError::Chart {
        path: chart,
        source,
    })
}

pub(crate) fn create_dir(path: &Path) -> Result<(), ReportError> {
    std::fs::create_dir_all(path).map_err(|source| ReportError::Create {
        path: path.to_owned(),
        source,
    })
}

pub(crate) fn write_json(path: &Path, value: &impl Serialize) -> Result<(), ReportError> {
    let file = File::create(path).map_err(|source| ReportError::Create {
        path: path.to_owned(),
        source,
    })?;
    let mut writer = BufWriter::new(file);
    serde_json::to_writer_pretty(&mut writer, value).map_err(|source| ReportError::Json {
        path: path.to_owned(),
        source,
    })?;
    writer
        .write_all(b"\n")
        .and_then(|()| writer.flush())
        .map_err(|source| ReportError::Write {
            path: path.to_owned(),
            source,
        })
}

pub(crate) fn write_csv<T: Serialize>(
    path: &Path,
    header: &[&str],
    rows: &[T],
) -> Result<(), ReportError> {
    let csv_error = |source| ReportError::Csv {
        path: path.to_owned(),
        source,
    };
    // The header is written by hand: serde's would be missing from a file without rows.
    let mut writer = csv::WriterBuilder::new()
        .has_headers(false)
        .from_path(path)
        .map_err(csv_error)?;
    writer.write_record(header).map_err(csv_error)?;
    for row in rows {
        writer.serialize(row).map_err(csv_error)?;
    }
    writer
        .flush()
        .map_err(|source| csv_error(csv::Error::from(source)))
}

pub(crate) type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;
pub(crate) type Chart<'a, 'b> =
    ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// The 2×2 overview of one run.
fn draw_summary(record: &RunRecord, results: &Results, path: &Path) -> Result<(), DrawError> {
    let root = SVGBackend::new(path, (1400, 1000)).into_drawing_area();
    root.fill(&WHITE)?;
    let loss = if record.link_loss > 0.0 {
        format!(", {:.1}% loss", record.link_loss * 100.0)
    } else {
        String::new()
    };
    let stale = results
        .stale_rate
        .map_or_else(|| "n/a".to_owned(), |rate| format!("{:.1}%", rate * 100.0));
    let nodes = match record.nodes {
        1 => "1 node".to_owned(),
        nodes => format!("{nodes} nodes"),
    };
    let title = format!(
        "{nodes}, {} topology, {} ms one-way latency{loss}: {} blocks mined, {} stale ({stale})",
        record.topology, record.link_latency_ms, results.mined_blocks, results.stale_blocks,
    );
    let root = root.titled(&title, (FONT, 26))?;
    let [propagation, reorgs, blocks, posts] = &quarters(&root);

    let rows = &results.rows;
    let to_ms = |secs: f64| secs * 1000.0;
    draw_cdf(
        propagation,
        "Block propagation delay",
        "delay after mining (ms)",
        &[
            Cdf {
                name: "to each other node",
                values: rows
                    .propagation
                    .iter()
                    .map(|row| to_ms(row.delay_secs))
                    .collect(),
                color: BLUE,
            },
            Cdf {
                name: "until every node had it",
                values: rows
                    .blocks
                    .iter()
                    .filter_map(|block| block.reached_all_after_secs.map(to_ms))
                    .collect(),
                color: VERMILION,
            },
        ],
    )?;
    draw_reorg_depths(reorgs, results)?;
    draw_blocks_per_node(blocks, results)?;
    draw_cdf(
        posts,
        &format!(
            "Post confirmation latency ({} unconfirmed)",
            results.posts_unconfirmed
        ),
        "acknowledged until mined into the main chain (s)",
        &[Cdf {
            name: "confirmed posts",
            values: rows
                .posts
                .iter()
                .filter_map(|post| post.latency_secs)
                .collect(),
            color: BLUE,
        }],
    )?;
    root.present()?;
    Ok(())
}

/// The four quarters of `area`, by rows; where a side is odd, the first half has the extra
/// pixel, as with plotters' `split_evenly`.
fn quarters<'a>(area: &Area<'a>) -> [Area<'a>; 4] {
    let (width, height) = area.dim_in_pixel();
    let (top, bottom) = area.split_vertically(height.div_ceil(2));
    let (top_left, top_right) = top.split_horizontally(width.div_ceil(2));
    let (bottom_left, bottom_right) = bottom.split_horizontally(width.div_ceil(2));
    [top_left, top_right, bottom_left, bottom_right]
}

/// One line of a cumulative distribution chart.
struct Cdf<'a> {
    name: &'a str,
    values: Vec<f64>,
    color: RGBColor,
}

fn draw_cdf(
    area: &Area<'_>,
    title: &str,
    x_desc: &str,
    lines: &[Cdf<'_>],
) -> Result<(), DrawError> {
    let values = || lines.iter().flat_map(|line| line.values.iter().copied());
    let low = values().fold(0.0, f64::min);
    let high = padded_max(values().fold(0.0, f64::max));
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FONT, 22))
        .margin(15)
        .x_label_area_size(50)
        .y_label_area_size(65)
        .build_cartesian_2d(low..high, 0.0..1.0)?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .x_label_formatter(&tidy_number)
        .y_desc("fraction at or below")
        .y_label_formatter(&tidy_number)
        .axis_desc_style((FONT, 16))
        .draw()?;
    let mut drawn = 0;
    for line in lines.iter().filter(|line| !line.values.is_empty()) {
        let color = line.color;
        chart
            .draw_series(LineSeries::new(
                cdf_steps(&line.values, low),
                color.stroke_width(2),
            ))?
            .label(format!("{} (n = {})", line.name, line.values.len()))
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2)));
        drawn += 1;
    }
    if drawn == 0 {
        draw_no_data(chart.plotting_area(), (low + high) / 2.0, 0.5)?;
    } else {
        draw_legend(&mut chart, SeriesLabelPosition::LowerRight, 15)?;
    }
    Ok(())
}

/// The corners of an empirical CDF's staircase, starting at `(start, 0)`.
fn cdf_steps(values: &[f64], start: f64) -> Vec<(f64, f64)> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let count = sorted.len() as f64;
    let mut steps = vec![(start, 0.0)];
    for (index, value) in sorted.into_iter().enumerate() {
        steps.push((value, index as f64 / count));
        steps.push((value, (index + 1) as f64 / count));
    }
    steps
}

fn draw_reorg_depths(area: &Area<'_>, results: &Results) -> Result<(), DrawError> {
    let depths = &results.reorg_depths;
    let deepest = depths.iter().map(|depth| depth.depth).max().unwrap_or(1);
    let most = depths.iter().map(|depth| depth.count).max().unwrap_or(0);
    let mut chart = ChartBuilder::on(area)
        .caption(
            format!("Reorganization depth ({} in all)", results.reorg_count),
            (FONT, 22),
        )
        .margin(15)
        .x_label_area_size(50)
        .y_label_area_size(65)
        .build_cartesian_2d(bar_axis(1, deepest as usize), 0.0..padded_max(most as f64))?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(deepest as usize)
        .x_label_formatter(&whole_numbers_only)
        .x_desc("blocks reverted")
        .y_desc("reorganizations (all nodes)")
        .y_label_formatter(&whole_numbers_only)
        .axis_desc_style((FONT, 16))
        .draw()?;
    if depths.is_empty() {
        return draw_no_data(chart.plotting_area(), 1.0, padded_max(0.0) / 2.0);
    }
    chart.draw_series(
        depths
            .iter()
            .map(|depth| bar(depth.depth as f64, 0.0, depth.count as f64, BLUE.filled())),
    )?;
    Ok(())
}

fn draw_blocks_per_node(area: &Area<'_>, results: &Results) -> Result<(), DrawError> {
    let nodes = &results.per_node;
    let expected = |share: f64| share * results.mined_blocks as f64;
    let most = nodes
        .iter()
        .map(|node| (node.mined as f64).max(expected(node.hash_share)))
        .fold(0.0, f64::max);
    let mut chart = ChartBuilder::on(area)
        .caption("Blocks mined per node", (FONT, 22))
        .margin(15)
        .x_label_area_size(50)
        .y_label_area_size(65)
        .build_cartesian_2d(bar_axis(0, nodes.len().max(1) - 1), 0.0..padded_max(most))?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(nodes.len().clamp(1, 25))
        .x_label_formatter(&whole_numbers_only)
        .x_desc("node")
        .y_desc("blocks mined in the window")
        .y_label_formatter(&whole_numbers_only)
        .axis_desc_style((FONT, 16))
        .draw()?;
    if results.mined_blocks == 0 {
        return draw_no_data(chart.plotting_area(), 0.0, padded_max(0.0) / 2.0);
    }
    chart
        .draw_series(
            nodes
                .iter()
                .map(|node| bar(node.node as f64, 0.0, node.main_chain as f64, BLUE.filled())),
        )?
        .label("on the main chain")
        .legend(|(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], BLUE.filled()));
    // Stale blocks stack on top of each node's main-chain blocks.
    chart
        .draw_series(nodes.iter().map(|node| {
            let x = node.node as f64;
            bar(
                x,
                node.main_chain as f64,
                node.mined as f64,
                ORANGE.filled(),
            )
        }))?
        .label("stale")
        .legend(|(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], ORANGE.filled()));
    chart
        .draw_series(nodes.iter().map(|node| {
            let at = (node.node as f64, expected(node.hash_share));
            Cross::new(at, 6, BLACK.stroke_width(2))
        }))?
        .label("expected from its hash share")
        .legend(|(x, y)| Cross::new((x + 7, y), 6, BLACK.stroke_width(2)));
    draw_legend(&mut chart, SeriesLabelPosition::UpperRight, 15)?;
    Ok(())
}

/// An axis with one slot per whole number from `first` to `last`, each centred on its number.
fn bar_axis(first: usize, last: usize) -> std::ops::Range<f64> {
    first as f64 - 0.5..last as f64 + 0.5
}

/// A bar in the slot of whole number `x`, from `bottom` to `top`.
fn bar(x: f64, bottom: f64, top: f64, style: ShapeStyle) -> Rectangle<(f64, f64)> {
    Rectangle::new([(x - 0.35, bottom), (x + 0.35, top)], style)
}

/// The stale-rate chart of a sweep.
fn draw_sweep(
    points: &[SweepPoint],
    nodes: usize,
    swept: Swept,
    path: &Path,
) -> Result<(), DrawError> {
    let root = SVGBackend::new(path, (1100, 750)).into_drawing_area();
    root.fill(&WHITE)?;
    let (x_max, y_max) = sweep_axis_ends(points, nodes);
    let mut chart = sweep_axes(&root, nodes, x_max, y_max)?;
    draw_predicted_stale_rates(&mut chart, nodes, x_max)?;
    draw_measured_stale_rates(&mut chart, points, swept)?;
    draw_legend(&mut chart, SeriesLabelPosition::UpperLeft, 16)?;
    root.present()?;
    Ok(())
}

/// The ends of the sweep chart's axes: past the largest `d/T` measured, and past the
/// highest of the points, their intervals and the prediction, but never past a rate of 1.
fn sweep_axis_ends(points: &[SweepPoint], nodes: usize) -> (f64, f64) {
    let x_max = padded_max(
        points
            .iter()
            .map(|point| point.d_over_t)
            .fold(0.0, f64::max),
    );
    let y_max = points
        .iter()
        .map(|point| point.ci_high.max(point.predicted_stale_rate))
        .fold(stale_probability(nodes, x_max), f64::max);
    (x_max, padded_max(y_max).min(1.0))
}

fn sweep_axes<'a, 'b>(
    root: &'a Area<'b>,
    nodes: usize,
    x_max: f64,
    y_max: f64,
) -> Result<Chart<'a, 'b>, DrawError> {
    let mut chart = ChartBuilder::on(root)
        .caption(
            format!("Stale block rate against d/T: {nodes} miners, measured and predicted"),
            (FONT, 26),
        )
        .margin(20)
        .x_label_area_size(60)
        .y_label_area_size(80)
        // A little room below zero, so points at zero are not drawn on the axes.
        .build_cartesian_2d(-0.02 * x_max..x_max, -0.02 * y_max..y_max)?;
    chart
        .configure_mesh()
        .x_desc("d/T: mean block propagation delay / observed block interval")
        .x_label_formatter(&tidy_number)
        .y_desc("stale rate (stale blocks / blocks mined)")
        .y_label_formatter(&tidy_number)
        .axis_desc_style((FONT, 18))
        .label_style((FONT, 15))
        .draw()?;
    Ok(chart)
}

/// The two curves theory gives for `nodes` equal miners, from `d/T` = 0 to `x_max`.
fn draw_predicted_stale_rates(
    chart: &mut Chart<'_, '_>,
    nodes: usize,
    x_max: f64,
) -> Result<(), DrawError> {
    let predicted = |d_over_t| stale_probability(nodes, d_over_t);
    chart
        .draw_series(LineSeries::new(
            sampled(x_max, predicted),
            GREY.stroke_width(2),
        ))?
        .label(format!("predicted: P = 1 - exp(-(1 - 1/{nodes}) d/T)"))
        .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], GREY.stroke_width(2)));
    chart
        .draw_series(LineSeries::new(
            sampled(x_max, |d_over_t| {
                stale_rate_counting_each_fork_once(predicted(d_over_t))
            }),
            BLUE.stroke_width(2),
        ))?
        .label("each fork counted once: P / (1 + P)")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLUE.stroke_width(2)));
    Ok(())
}

/// `curve` at evenly spaced points from 0 to `x_max`, both ends included.
fn sampled(x_max: f64, curve: impl Fn(f64) -> f64) -> impl Iterator<Item = (f64, f64)> {
    const SAMPLES: usize = 200;
    (0..=SAMPLES).map(move |step| {
        let x = x_max * step as f64 / SAMPLES as f64;
        (x, curve(x))
    })
}

/// Each run's measured rate with its 95% interval, named by what the sweep varies.
fn draw_measured_stale_rates(
    chart: &mut Chart<'_, '_>,
    points: &[SweepPoint],
    swept: Swept,
) -> Result<(), DrawError> {
    chart
        .draw_series(points.iter().map(|point| {
            ErrorBar::new_vertical(
                point.d_over_t,
                point.ci_low,
                point.measured_stale_rate,
                point.ci_high,
                VERMILION.stroke_width(2),
                12,
            )
        }))?
        .label("measured, with 95% Wilson interval")
        .legend(|(x, y)| Circle::new((x + 10, y), 4, VERMILION.filled()));
    chart.draw_series(points.iter().map(|point| {
        Circle::new(
            (point.d_over_t, point.measured_stale_rate),
            4,
            VERMILION.filled(),
        )
    }))?;
    // Naming each point's latency ties the chart to the runs behind it.
    let label_style = (FONT, 13)
        .into_font()
        .color(&GREY)
        .pos(Pos::new(HPos::Left, VPos::Center));
    chart.draw_series(points.iter().map(|point| {
        EmptyElement::at((point.d_over_t, point.measured_stale_rate))
            + Text::new(point_label(swept, point), (10, 0), label_style.clone())
    }))?;
    Ok(())
}

/// The legend of the series drawn so far, boxed at `position`.
pub(crate) fn draw_legend<'a, 'b: 'a>(
    chart: &mut Chart<'a, 'b>,
    position: SeriesLabelPosition,
    font_size: u32,
) -> Result<(), DrawError> {
    chart
        .configure_series_labels()
        .position(position)
        .label_font((FONT, font_size))
        .background_style(WHITE.mix(0.85))
        .border_style(GREY)
        .draw()
}

fn draw_no_data<X, Y>(
    area: &DrawingArea<SVGBackend<'_>, Cartesian2d<X, Y>>,
    x: X::ValueType,
    y: Y::ValueType,
) -> Result<(), DrawError>
where
    X: Ranged,
    Y: Ranged,
{
    let style = (FONT, 20)
        .into_font()
        .color(&GREY)
        .pos(Pos::new(HPos::Center, VPos::Center));
    area.draw(&Text::new("no data", (x, y), style))?;
    Ok(())
}

/// An axis end a little beyond `max`, so the largest value is not drawn on the frame; 1 for an
/// empty or all-zero sample.
pub(crate) fn padded_max(max: f64) -> f64 {
    if max > 0.0 { max * 1.1 } else { 1.0 }
}

/// An axis label without the trailing zeros of its floating-point key point.
pub(crate) fn tidy_number(value: &f64) -> String {
    let text = format!("{value:.3}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    // Rounding can leave "-0" from a key point a hair below zero.
    if text == "-0" { "0" } else { text }.to_owned()
}

/// Labels for an axis of counts: whole numbers, and nothing between them.
fn whole_numbers_only(value: &f64) -> String {
    if value.fract() == 0.0 {
        format!("{value:.0}")
    } else {
        String::new()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;
    use crate::analysis::{BlockRow, PostRow, PropagationRow, ReorgRow, analyze_events};
    use crate::events::{EventKind, NodeEvent};
    use crate::record::{ChainBlock, FinalTip, PostSubmission};

    fn empty_record(nodes: usize) -> RunRecord {
        RunRecord {
            nodes,
            hash_shares: vec![1.0 / nodes as f64; nodes],
            target_block_interval_secs: 10.0,
            link_latency_ms: 200.0,
            link_loss: 0.01,
            link_bandwidth_bytes_per_sec: None,
            posts_per_sec: None,
            link_bytes: None,
            regions: None,
            node_regions: vec![],
            topology: "ring".into(),
            links: (0..nodes).map(|node| (node, (node + 1) % nodes)).collect(),
            mining_started_at: 1000.0,
            mining_stopped_at: 1600.0,
            events: vec![],
            posts: vec![],
            final_tips: vec![],
            main_chain: vec![],
            block_sizes: vec![],
            settled_after_secs: Some(1.25),
        }
    }

    /// A plausible ten-minute run of four unequal miners: blocks every ~10 s, delays of a few
    /// hundred ms, a block that another follows within a second goes stale, posts every ~6 s.
    fn sample_run() -> (RunRecord, Results) {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut exponential = |mean: f64| -mean * (1.0 - rng.random::<f64>()).ln();
        let mut record = empty_record(4);
        record.hash_shares = vec![0.4, 0.3, 0.2, 0.1];
        let mut events = Vec::new();
        let mut blocks: Vec<(String, f64)> = Vec::new();
        let mut at = record.mining_started_at;
        let mut height = 0;
        loop {
            at += exponential(10.0);
            if at > record.mining_stopped_at {
                break;
            }
            let draw = exponential(1.0).fract();
            let miner = match draw {
                d if d < 0.4 => 0,
                d if d < 0.7 => 1,
                d if d < 0.9 => 2,
                _ => 3,
            };
            height += 1;
            let hash = format!("{:016x}", (at * 1e6) as u64);
            let kind = |hash: &str| EventKind::Connected {
                hash: hash.into(),
                height,
            };
            events.push(NodeEvent {
                node: miner,
                at,
                kind: EventKind::Mined {
                    hash: hash.clone(),
                    height,
                },
            });
            for node in 0..4 {
                let delay = if node == miner {
                    0.001
                } else {
                    0.2 + exponential(0.15)
                };
                events.push(NodeEvent {
                    node,
                    at: at + delay,
                    kind: kind(&hash),
                });
            }
            blocks.push((hash, at));
        }
        let stale: Vec<bool> = (0..blocks.len())
            .map(|index| {
                blocks
                    .get(index + 1)
                    .is_some_and(|next| next.1 - blocks[index].1 < 1.0)
            })
            .collect();
        for (index, (_, at)) in blocks.iter().enumerate().filter(|(i, _)| stale[*i]) {
            let depth = if index % 5 == 0 { 2 } else { 1 };
            events.push(NodeEvent {
                node: index % 4,
                at: at + 1.0,
                kind: EventKind::Reorg { depth },
            });
        }
        let main: Vec<&(String, f64)> = blocks
            .iter()
            .zip(&stale)
            .filter(|(_, stale)| !**stale)
            .map(|(block, _)| block)
            .collect();
        let mut post_ids = vec![Vec::new(); main.len()];
        let mut submitted = record.mining_started_at;
        for id in 0.. {
            submitted += exponential(6.0);
            if submitted > record.mining_stopped_at {
                break;
            }
            let id = format!("post-{id}");
            if let Some(carrier) = main.iter().position(|block| block.1 > submitted + 0.1) {
                post_ids[carrier].push(id.clone());
            }
            record.posts.push(PostSubmission {
                id,
                node: 0,
                submitted_at: submitted,
            });
        }
        record.main_chain = main
            .iter()
            .zip(post_ids)
            .enumerate()
            .map(|(index, (block, post_ids))| ChainBlock {
                hash: block.0.clone(),
                height: index as u64 + 1,
                post_ids,
            })
            .collect();
        let tip = record.main_chain.last().expect("blocks were mined");
        let tip = FinalTip {
            hash: tip.hash.clone(),
            height: tip.height,
        };
        record.final_tips = vec![tip; 4];
        let results = analyze_events(&record, &events);
        (record, results)
    }

    fn sample_sweep() -> Vec<SweepPoint> {
        [
            (0.0, 0.0, 0, 120),
            (100.0, 0.02, 2, 118),
            (400.0, 0.05, 4, 110),
            (1600.0, 0.2, 12, 115),
        ]
        .into_iter()
        .map(|(latency_ms, d_over_t, stale_blocks, mined_blocks)| {
            let (ci_low, ci_high) = crate::theory::wilson_interval(stale_blocks, mined_blocks);
            SweepPoint {
                latency_ms,
                block_interval_secs: 10.0,
                d_secs: d_over_t * 10.0,
                t_secs: 10.0,
                d_over_t,
                measured_stale_rate: stale_blocks as f64 / mined_blocks as f64,
                stale_blocks,
                mined_blocks,
                predicted_stale_rate: stale_probability(2, d_over_t),
                predicted_each_fork_once: stale_rate_counting_each_fork_once(stale_probability(
                    2, d_over_t,
                )),
                ci_low,
                ci_high,
            }
        })
        .collect()
    }

    fn csv_rows(path: &Path) -> (Vec<String>, Vec<csv::StringRecord>) {
        let mut reader = csv::Reader::from_path(path).expect("readable CSV");
        let header = reader
            .headers()
            .expect("a header")
            .iter()
            .map(str::to_owned)
            .collect();
        let rows = reader
            .records()
            .collect::<Result<_, _>>()
            .expect("well-formed rows");
        (header, rows)
    }

    fn read(path: &Path) -> String {
        std::fs::read_to_string(path).expect("readable file")
    }

    #[test]
    fn write_all_writes_every_file_in_a_readable_form() {
        let (record, results) = sample_run();
        assert!(
            results.stale_blocks > 0 && results.reorg_count > 0 && results.posts_unconfirmed > 0
        );
        let dir = tempfile::tempdir().expect("temp dir");
        let out = dir.path().join("run");
        write_all(&record, &results, &out).expect("written");

        let json: serde_json::Value =
            serde_json::from_str(&read(&out.join("results.json"))).expect("valid JSON");
        assert_eq!(json["mined_blocks"], results.mined_blocks);
        assert_eq!(json["stale_blocks"], results.stale_blocks);
        assert_eq!(json["agreement"]["all_agree"], true);
        assert_eq!(json["per_node"].as_array().map(Vec::len), Some(4));
        assert!(json["propagation_delay_secs"]["p90"].is_f64());
        assert!(json.get("rows").is_none(), "rows belong in the CSV files");

        let rows = &results.rows;
        for (file, header, count) in [
            ("blocks.csv", BLOCKS_HEADER, rows.blocks.len()),
            (
                "propagation.csv",
                PROPAGATION_HEADER,
                rows.propagation.len(),
            ),
            ("reorgs.csv", REORGS_HEADER, rows.reorgs.len()),
            ("posts.csv", POSTS_HEADER, rows.posts.len()),
        ] {
            let (found_header, found_rows) = csv_rows(&out.join(file));
            assert_eq!(found_header, header, "{file}");
            assert_eq!(found_rows.len(), count, "{file}");
            assert!(count > 0, "{file} has rows to check");
        }
        let (_, posts) = csv_rows(&out.join("posts.csv"));
        let unconfirmed = posts.iter().filter(|row| row[3].is_empty()).count();
        assert_eq!(unconfirmed, results.posts_unconfirmed);

        let svg = read(&out.join("summary.svg"));
        for title in [
            "Block propagation delay",
            "Reorganization depth",
            "Blocks mined per node",
            "Post confirmation latency",
            "delay after mining (ms)",
            "blocks reverted",
            "4 nodes, ring topology, 200 ms one-way latency, 1.0% loss",
        ] {
            assert!(svg.contains(title), "summary.svg lacks {title:?}");
        }
    }

    #[test]
    fn a_run_without_data_still_gets_headers_and_a_chart() {
        let record = empty_record(2);
        let results = analyze_events(&record, &[]);
        let dir = tempfile::tempdir().expect("temp dir");
        write_all(&record, &results, dir.path()).expect("written");
        for (file, header) in [
            ("blocks.csv", BLOCKS_HEADER),
            ("propagation.csv", PROPAGATION_HEADER),
            ("reorgs.csv", REORGS_HEADER),
            ("posts.csv", POSTS_HEADER),
        ] {
            let (found_header, found_rows) = csv_rows(&dir.path().join(file));
            assert_eq!(found_header, header, "{file}");
            assert!(found_rows.is_empty(), "{file}");
        }
        let svg = read(&dir.path().join("summary.svg"));
        assert!(svg.contains("no data"));
        assert!(svg.contains("0 blocks mined, 0 stale (n/a)"));
    }

    #[test]
    fn handwritten_headers_match_the_row_types() {
        fn serde_header(row: &impl Serialize) -> Vec<String> {
            let mut writer = csv::Writer::from_writer(Vec::new());
            writer.serialize(row).expect("serializable");
            let bytes = writer.into_inner().expect("flushed");
            let text = String::from_utf8(bytes).expect("UTF-8");
            let header = text.lines().next().expect("a header line");
            header.split(',').map(str::to_owned).collect()
        }
        let block = BlockRow {
            hash: "aa".into(),
            height: 1,
            miner: 0,
            mined_at: 1.0,
            on_main_chain: true,
            reached_all_after_secs: None,
        };
        let propagation = PropagationRow {
            hash: "aa".into(),
            node: 1,
            delay_secs: 0.5,
        };
        let reorg = ReorgRow {
            node: 0,
            at: 1.0,
            depth: 1,
        };
        let post = PostRow {
            id: "p".into(),
            node: 0,
            submitted_at: 1.0,
            confirmed_at: None,
            latency_secs: None,
        };
        assert_eq!(serde_header(&block), BLOCKS_HEADER);
        assert_eq!(serde_header(&propagation), PROPAGATION_HEADER);
        assert_eq!(serde_header(&reorg), REORGS_HEADER);
        assert_eq!(serde_header(&post), POSTS_HEADER);
        assert_eq!(serde_header(&sample_sweep()[0]), SWEEP_HEADER);
    }

    #[test]
    fn write_sweep_writes_csv_json_and_the_stale_rate_chart() {
        let points = sample_sweep();
        let dir = tempfile::tempdir().expect("temp dir");
        write_sweep(&points, 2, Swept::LatencyMs, dir.path()).expect("written");

        let (header, rows) = csv_rows(&dir.path().join("sweep.csv"));
        assert_eq!(header, SWEEP_HEADER);
        assert_eq!(rows.len(), points.len());
        let read_back: Vec<SweepPoint> =
            serde_json::from_str(&read(&dir.path().join("sweep.json"))).expect("valid JSON");
        assert_eq!(read_back, points);

        let svg = read(&dir.path().join("stale-rate.svg"));
        for text in [
            "Stale block rate against d/T: 2 miners",
            "predicted: P = 1 - exp(-(1 - 1/2) d/T)",
            "each fork counted once: P / (1 + P)",
            "measured, with 95% Wilson interval",
            "stale rate (stale blocks / blocks mined)",
            "1600 ms",
        ] {
            assert!(svg.contains(text), "stale-rate.svg lacks {text:?}");
        }
    }

    #[test]
    fn an_empty_sweep_still_draws_the_prediction() {
        let dir = tempfile::tempdir().expect("temp dir");
        write_sweep(&[], 3, Swept::LatencyMs, dir.path()).expect("written");
        let (_, rows) = csv_rows(&dir.path().join("sweep.csv"));
        assert!(rows.is_empty());
        assert_eq!(read(&dir.path().join("sweep.json")).trim(), "[]");
        assert!(read(&dir.path().join("stale-rate.svg")).contains("1 - exp(-(1 - 1/3) d/T)"));
    }

    /// Compares `written` with the file of the same name under `testdata/<case>/`; with
    /// `CHAINPOST_BLESS=1` set, makes that file `written` instead, for a change meant to
    /// alter the output.
    pub(crate) fn assert_same_as_recorded(case: &str, written: &Path) {
        let name = written.file_name().expect("a file name");
        let recorded = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata")
            .join(case)
            .join(name);
        let actual = read(written);
        if std::env::var_os("CHAINPOST_BLESS").is_some() {
            std::fs::create_dir_all(recorded.parent().expect("a directory")).expect("created");
            std::fs::write(&recorded, &actual).expect("recorded");
        }
        assert!(
            actual == read(&recorded),
            "{} differs from {}; if that is intended, run again with CHAINPOST_BLESS=1",
            written.display(),
            recorded.display()
        );
    }

    #[test]
    fn a_sweeps_files_are_exactly_as_recorded() {
        let dir = tempfile::tempdir().expect("temp dir");
        write_sweep(&sample_sweep(), 2, Swept::LatencyMs, dir.path()).expect("written");
        for file in ["sweep.csv", "sweep.json", "stale-rate.svg"] {
            assert_same_as_recorded("sweep", &dir.path().join(file));
        }
    }

    #[test]
    fn a_runs_files_are_exactly_as_recorded() {
        let (record, results) = sample_run();
        let dir = tempfile::tempdir().expect("temp dir");
        write_all(&record, &results, dir.path()).expect("written");
        for file in [
            "results.json",
            "blocks.csv",
            "propagation.csv",
            "reorgs.csv",
            "posts.csv",
            "summary.svg",
        ] {
            assert_same_as_recorded("run", &dir.path().join(file));
        }
    }

    #[test]
    fn a_report_that_cannot_create_its_directory_names_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let in_the_way = dir.path().join("a file");
        std::fs::write(&in_the_way, "").expect("written");
        let out = in_the_way.join("sweep");
        let error = write_sweep(&sample_sweep(), 2, Swept::LatencyMs, &out)
            .expect_err("a file is in the way");
        assert!(
            matches!(&error, ReportError::Create { path, .. } if *path == out),
            "{error:?}"
        );
    }

    #[test]
    fn cdf_steps_climb_by_one_over_n_at_each_sorted_value() {
        assert_eq!(
            cdf_steps(&[3.0, 1.0], 0.0),
            [(0.0, 0.0), (1.0, 0.0), (1.0, 0.5), (3.0, 0.5), (3.0, 1.0)]
        );
    }

    #[test]
    fn axes_leave_room_above_the_largest_value() {
        assert!((padded_max(10.0) - 11.0).abs() < 1e-12);
        assert_eq!(padded_max(0.0), 1.0);
        assert_eq!(whole_numbers_only(&3.0), "3");
        assert_eq!(whole_numbers_only(&2.5), "");
        assert_eq!(tidy_number(&100.0), "100");
        assert_eq!(tidy_number(&(0.1 + 0.2)), "0.3");
        assert_eq!(tidy_number(&0.025), "0.025");
        assert_eq!(tidy_number(&-0.0001), "0");
    }
}
