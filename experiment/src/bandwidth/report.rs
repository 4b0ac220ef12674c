//! Writes a block-size sweep: `block-size.json` (the points and the delay fit),
//! `block-size.csv` (a row per run) and `block-size.svg` (stale rate against mean block
//! size, measured with 95% intervals beside both predictions; and the measured delay
//! against block size beside the links' `L + S / B` and the fitted line).
//!
//! Boundary: writes files. **Invariant:** for the same sweep the files are byte for byte
//! the same.

use std::path::Path;

use plotters::prelude::*;

use super::{BlockSizePoint, BlockSizeSweep};
use crate::report::{
    Area, BLUE, Chart, DrawError, FONT, GREY, ORANGE, ReportError, VERMILION, create_dir,
    draw_legend, padded_max, tidy_number, write_csv, write_json,
};

/// Column names of `block-size.csv`, in [`BlockSizePoint`]'s field order.
const POINTS_HEADER: &[&str] = &[
    "posts_per_sec",
    "blocks_sized",
    "mean_block_bytes",
    "largest_block_bytes",
    "d_secs",
    "link_d_secs",
    "t_secs",
    "link_utilisation",
    "measured_stale_rate",
    "stale_blocks",
    "mined_blocks",
    "ci_low",
    "ci_high",
    "predicted_from_links",
    "predicted_from_measured_d",
];

/// Writes the three files into `out_dir`, creating it if needed.
pub fn write_block_size_sweep(sweep: &BlockSizeSweep, out_dir: &Path) -> Result<(), ReportError> {
    create_dir(out_dir)?;
    write_json(&out_dir.join("block-size.json"), sweep)?;
    write_csv(
        &out_dir.join("block-size.csv"),
        POINTS_HEADER,
        &sweep.points,
    )?;
    let chart = out_dir.join("block-size.svg");
    draw(sweep, &chart).map_err(|source| ReportError::Chart {
        path: chart,
        source,
    })
}

fn kilobytes(bytes: f64) -> f64 {
    bytes / 1000.0
}

fn draw(sweep: &BlockSizeSweep, path: &Path) -> Result<(), DrawError> {
    let root = SVGBackend::new(path, (1500, 700)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(
        &format!(
            "Block size at {} Mbit/s and {} ms links: stale rate and delay, measured and predicted",
            tidy_number(&sweep.bandwidth_mbps),
            tidy_number(&sweep.latency_ms)
        ),
        (FONT, 24),
    )?;
    let (left, right) = root.split_horizontally(750);
    let mut points: Vec<&BlockSizePoint> = sweep.points.iter().collect();
    points.sort_by(|a, b| a.mean_block_bytes.total_cmp(&b.mean_block_bytes));
    let x_max = padded_max(
        points
            .iter()
            .map(|point| kilobytes(point.mean_block_bytes))
            .fold(0.0, f64::max),
    );
    draw_stale_rates(&left, &points, x_max)?;
    draw_delays(&right, sweep, &points, x_max)?;
    root.present()?;
    Ok(())
}

/// Axes of mean block size in kB up to `x_max` against `y_desc` up to `y_max`, with a
/// little room below zero so points at zero are not drawn on the axes.
fn size_axes<'a, 'b>(
    area: &'a Area<'b>,
    x_max: f64,
    y_max: f64,
    y_desc: &str,
) -> Result<Chart<'a, 'b>, DrawError> {
    let mut chart = ChartBuilder::on(area)
        .margin(20)
        .x_label_area_size(60)
        .y_label_area_size(80)
        .build_cartesian_2d(-0.02 * x_max..x_max, -0.02 * y_max..y_max)?;
    chart
        .configure_mesh()
        .x_desc("mean block size (kB of JSON as gossiped)")
        .x_label_formatter(&tidy_number)
        .y_desc(y_desc)
        .y_label_formatter(&tidy_number)
        .axis_desc_style((FONT, 18))
        .label_style((FONT, 15))
        .draw()?;
    Ok(chart)
}

fn draw_stale_rates(
    area: &Area<'_>,
    points: &[&BlockSizePoint],
    x_max: f64,
) -> Result<(), DrawError> {
    let y_max = padded_max(
        points
            .iter()
            .map(|point| {
                point
                    .ci_high
                    .max(point.predicted_from_links)
                    .max(point.predicted_from_measured_d)
            })
            .fold(0.0, f64::max),
    )
    .min(1.0);
    let mut chart = size_axes(
        area,
        x_max,
        y_max,
        "stale rate (stale blocks / blocks mined)",
    )?;
    let at = |point: &BlockSizePoint| kilobytes(point.mean_block_bytes);
    type Prediction = fn(&BlockSizePoint) -> f64;
    let predictions: [(Prediction, RGBColor, &str); 2] = [
        (
            |point| point.predicted_from_links,
            GREY,
            "predicted from the links: d(S) = L + S/B per block",
        ),
        (
            |point| point.predicted_from_measured_d,
            BLUE,
            "predicted from the measured mean d",
        ),
    ];
    for (predicted, colour, label) in predictions {
        chart
            .draw_series(LineSeries::new(
                points.iter().map(|point| (at(point), predicted(point))),
                colour.stroke_width(2),
            ))?
            .label(label)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], colour.stroke_width(2)));
    }
    chart
        .draw_series(points.iter().map(|point| {
            ErrorBar::new_vertical(
                at(point),
                point.ci_low,
                point.measured_stale_rate,
                point.ci_high,
                VERMILION.stroke_width(2),
                10,
            )
        }))?
        .label("measured, with 95% Wilson interval")
        .legend(|(x, y)| Circle::new((x + 10, y), 4, VERMILION.filled()));
    chart.draw_series(points.iter().map(|point| {
        Circle::new(
            (at(point), point.measured_stale_rate),
            4,
            VERMILION.filled(),
        )
    }))?;
    draw_legend(&mut chart, SeriesLabelPosition::UpperLeft, 14)
}

fn draw_delays(
    area: &Area<'_>,
    sweep: &BlockSizeSweep,
    points: &[&BlockSizePoint],
    x_max: f64,
) -> Result<(), DrawError> {
    let latency = sweep.latency_ms / 1000.0;
    let bytes_per_sec = sweep.bandwidth_mbps * 1e6 / 8.0;
    let link = |kb: f64| latency + kb * 1000.0 / bytes_per_sec;
    let fit = |kb: f64| {
        sweep
            .delay_fit
            .map(|fit| fit.intercept_secs + fit.secs_per_kilobyte * kb)
    };
    let y_max = padded_max(
        points
            .iter()
            .map(|point| point.d_secs)
            .chain([link(x_max)])
            .chain(fit(x_max))
            .fold(0.0, f64::max),
    );
    let mut chart = size_axes(area, x_max, y_max, "mean propagation delay d (seconds)")?;
    chart
        .draw_series(LineSeries::new(
            [(0.0, link(0.0)), (x_max, link(x_max))],
            GREY.stroke_width(2),
        ))?
        .label("the links alone: L + S/B")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], GREY.stroke_width(2)));
    if let (Some(fitted), Some(start), Some(end)) = (sweep.delay_fit, fit(0.0), fit(x_max)) {
        let implied = fitted
            .implied_bandwidth_mbps
            .map_or_else(|| "none".to_owned(), |mbps| format!("{mbps:.2} Mbit/s"));
        chart
            .draw_series(DashedLineSeries::new(
                [(0.0, start), (x_max, end)],
                8,
                6,
                ORANGE.stroke_width(2),
            ))?
            .label(format!(
                "fitted to {} delays: {:.3} s + S x {:.4} s/kB (bandwidth {implied})",
                fitted.delays, fitted.intercept_secs, fitted.secs_per_kilobyte
            ))
            .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], ORANGE.stroke_width(2)));
    }
    chart
        .draw_series(points.iter().map(|point| {
            Circle::new(
                (kilobytes(point.mean_block_bytes), point.d_secs),
                4,
                VERMILION.filled(),
            )
        }))?
        .label("measured mean delay of each run")
        .legend(|(x, y)| Circle::new((x + 10, y), 4, VERMILION.filled()));
    draw_legend(&mut chart, SeriesLabelPosition::UpperLeft, 14)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bandwidth::tests::capped_run;
    use crate::report::tests::assert_same_as_recorded;

    fn sample_sweep() -> BlockSizeSweep {
        BlockSizeSweep::from_runs(&[capped_run(5.0), capped_run(10.0)]).expect("a sweep")
    }

    #[test]
    fn the_files_are_exactly_as_recorded() {
        let dir = tempfile::tempdir().expect("temp dir");
        write_block_size_sweep(&sample_sweep(), dir.path()).expect("written");
        for file in ["block-size.json", "block-size.csv", "block-size.svg"] {
            assert_same_as_recorded("block-size", &dir.path().join(file));
        }
    }

    #[test]
    fn the_csv_has_a_row_per_point_under_its_header() {
        let dir = tempfile::tempdir().expect("temp dir");
        write_block_size_sweep(&sample_sweep(), dir.path()).expect("written");
        let mut csv = csv::Reader::from_path(dir.path().join("block-size.csv")).expect("csv");
        let header: Vec<String> = csv
            .headers()
            .expect("header")
            .iter()
            .map(str::to_owned)
            .collect();
        assert_eq!(header, POINTS_HEADER);
        assert_eq!(csv.records().count(), 2);
        let json: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join("block-size.json")).expect("json"),
        )
        .expect("valid JSON");
        assert_eq!(json["points"].as_array().map(Vec::len), Some(2));
        assert!(json["delay_fit"]["implied_bandwidth_mbps"].is_number());
    }
}
