//! Writes a selfish-mining run's results: `selfish-results.json`, `selfish-mining.csv` (a
//! row per pool share and arrival) and `selfish-mining.svg` (the pool's share of the main
//! chain against its share of the hash power, with 95% intervals, beside Eyal and Sirer's
//! curves and thresholds).
//!
//! Boundary: writes files. **Invariant:** for the same results the files are byte for
//! byte the same.

use std::path::Path;

use plotters::prelude::*;

use super::analysis::{RevenuePoint, SelfishResults};
use super::config::Arrival;
use crate::attack_theory::{selfish_mining_revenue, selfish_mining_threshold};
use crate::report::{
    BLUE, DrawError, FONT, GREY, ORANGE, ReportError, create_dir, draw_legend, tidy_number,
    write_csv, write_json,
};

/// Column names of `selfish-mining.csv`, in [`RevenuePoint`]'s field order.
const POINTS_HEADER: &[&str] = &[
    "pool_share",
    "arrival",
    "gamma",
    "measured_gamma",
    "tie_blocks",
    "races",
    "main_chain_pool",
    "main_chain_blocks",
    "revenue",
    "ci_low",
    "ci_high",
    "predicted",
    "predicted_for_measured_gamma",
    "above_threshold",
];

/// Writes the three files into `out_dir`, creating it if needed.
pub fn write_selfish(results: &SelfishResults, out_dir: &Path) -> Result<(), ReportError> {
    create_dir(out_dir)?;
    write_json(&out_dir.join("selfish-results.json"), results)?;
    write_csv(
        &out_dir.join("selfish-mining.csv"),
        POINTS_HEADER,
        &results.points,
    )?;
    let chart = out_dir.join("selfish-mining.svg");
    draw(results, &chart).map_err(|source| ReportError::Chart {
        path: chart,
        source,
    })
}

/// How far each arrival's points sit beside their α, so the two stay apart.
fn nudge(arrival: Arrival) -> f64 {
    match arrival {
        Arrival::Last => -0.003,
        Arrival::First => 0.003,
    }
}

fn colour(arrival: Arrival) -> RGBColor {
    match arrival {
        Arrival::Last => BLUE,
        Arrival::First => ORANGE,
    }
}

fn draw(results: &SelfishResults, path: &Path) -> Result<(), DrawError> {
    let root = SVGBackend::new(path, (1100, 750)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Selfish mining on real nodes: the pool's share of the main chain",
            (FONT, 24),
        )
        .margin(20)
        .x_label_area_size(60)
        .y_label_area_size(80)
        .build_cartesian_2d(0.0..0.5, 0.0..1.0)?;
    chart
        .configure_mesh()
        .x_desc("α: the pool's share of the hash power")
        .x_label_formatter(&tidy_number)
        .y_desc("R: the pool's share of main-chain blocks")
        .y_label_formatter(&tidy_number)
        .axis_desc_style((FONT, 18))
        .label_style((FONT, 15))
        .draw()?;
    let alphas = || (0..=100).map(|step| f64::from(step) * 0.005);
    chart
        .draw_series(DashedLineSeries::new(
            alphas().map(|alpha| (alpha, alpha)),
            8,
            6,
            GREY.stroke_width(2),
        ))?
        .label("honest mining: R = α")
        .legend(|(x, y)| {
            EmptyElement::at((x, y))
                + PathElement::new([(0, 0), (7, 0)], GREY.stroke_width(2))
                + PathElement::new([(13, 0), (20, 0)], GREY.stroke_width(2))
        });
    for (arrival, usual_gamma) in [(Arrival::Last, 0.0), (Arrival::First, 0.5)] {
        let colour = colour(arrival);
        let gamma = results
            .points
            .iter()
            .find(|point| point.arrival == arrival)
            .map_or(usual_gamma, |point| point.gamma);
        chart
            .draw_series(LineSeries::new(
                alphas().map(|alpha| (alpha, selfish_mining_revenue(alpha, gamma).max(0.0))),
                colour.stroke_width(2),
            ))?
            .label(format!("Eyal and Sirer, γ = {gamma}"))
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], colour.stroke_width(2)));
        // Where selfish mining starts to pay: (1 − γ)/(3 − 2γ).
        let threshold = selfish_mining_threshold(gamma);
        chart.draw_series(DashedLineSeries::new(
            [(threshold, 0.0), (threshold, 1.0)],
            3,
            5,
            colour.stroke_width(1),
        ))?;
        let points: Vec<&RevenuePoint> = results
            .points
            .iter()
            .filter(|point| point.arrival == arrival && point.main_chain_blocks > 0)
            .collect();
        chart
            .draw_series(points.iter().map(|point| {
                ErrorBar::new_vertical(
                    point.pool_share + nudge(arrival),
                    point.ci_low,
                    point.revenue,
                    point.ci_high,
                    colour.stroke_width(2),
                    10,
                )
            }))?
            .label(format!(
                "measured, pool's block arrives {} (95% interval)",
                arrival.name()
            ))
            .legend(move |(x, y)| Circle::new((x + 10, y), 4, colour.filled()));
        chart.draw_series(points.iter().map(|point| {
            Circle::new(
                (point.pool_share + nudge(arrival), point.revenue),
                4,
                colour.filled(),
            )
        }))?;
    }
    draw_legend(&mut chart, SeriesLabelPosition::UpperLeft, 15)?;
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attack::selfish::analysis::analyze;
    use crate::attack::selfish::analysis::tests::sample_record;

    #[test]
    fn the_files_are_exactly_as_recorded() {
        let dir = tempfile::tempdir().expect("temp dir");
        write_selfish(&analyze(&sample_record()), dir.path()).expect("written");
        for file in [
            "selfish-results.json",
            "selfish-mining.csv",
            "selfish-mining.svg",
        ] {
            crate::report::tests::assert_same_as_recorded("selfish", &dir.path().join(file));
        }
    }

    #[test]
    fn the_csv_has_a_row_per_point_under_its_header() {
        let dir = tempfile::tempdir().expect("temp dir");
        let results = analyze(&sample_record());
        write_selfish(&results, dir.path()).expect("written");
        let text = std::fs::read_to_string(dir.path().join("selfish-mining.csv")).expect("csv");
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some(POINTS_HEADER.join(",").as_str()));
        assert_eq!(lines.count(), results.points.len());
    }
}
