//! Writes an attack run's results: `attack-results.json`, `double-spend.csv` (a row per
//! attacker share and confirmation count) and `double-spend.svg` (measured, with 95%
//! intervals, against the formulas, on a log scale).
//!
//! Boundary: writes files; computes nothing beyond what the chart needs to lay itself out.
//! **Invariant:** for the same results the files are byte for byte the same.

use std::path::Path;

use plotters::prelude::*;

use super::analysis::{AttackResults, Cell};
use crate::report::{
    BLUE, DrawError, FONT, GREY, ORANGE, ReportError, VERMILION, create_dir, tidy_number,
    write_csv, write_json,
};

/// Column names of `double-spend.csv`, in [`Cell`]'s field order.
const CELLS_HEADER: &[&str] = &[
    "attacker_share",
    "confirmations",
    "trials",
    "rewritten",
    "measured",
    "ci_low",
    "ci_high",
    "nakamoto",
    "rosenfeld",
    "first_seen",
    "attacker_wins_ties",
];

/// One colour per attacker share, apart for the common colour-vision deficiencies.
const SHARE_COLOURS: [RGBColor; 5] = [
    BLUE,
    ORANGE,
    VERMILION,
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
];

/// The chart's lowest probability; a measured zero is drawn on it.
const FLOOR: f64 = 1e-5;

/// Writes the three files into `out_dir`, creating it if needed.
pub fn write_attack(results: &AttackResults, out_dir: &Path) -> Result<(), ReportError> {
    create_dir(out_dir)?;
    write_json(&out_dir.join("attack-results.json"), results)?;
    write_csv(
        &out_dir.join("double-spend.csv"),
        CELLS_HEADER,
        &results.cells,
    )?;
    let chart = out_dir.join("double-spend.svg");
    draw(results, &chart).map_err(|source| ReportError::Chart {
        path: chart,
        source,
    })
}

fn draw(results: &AttackResults, path: &Path) -> Result<(), DrawError> {
    let root = SVGBackend::new(path, (1100, 750)).into_drawing_area();
    root.fill(&WHITE)?;
    let z_max = results
        .cells
        .iter()
        .map(|cell| cell.confirmations)
        .max()
        .unwrap_or(1);
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!(
                "Double spend on real nodes: a post rewritten after z confirmations ({} trials)",
                results.trials
            ),
            (FONT, 24),
        )
        .margin(20)
        .x_label_area_size(60)
        .y_label_area_size(80)
        .build_cartesian_2d(0.5..f64::from(z_max) + 0.5, (FLOOR..1.0).log_scale())?;
    chart
        .configure_mesh()
        .x_desc("z: confirmations the merchant waits for")
        .x_labels(z_max as usize)
        .x_label_formatter(&|z| format!("{z:.0}"))
        .y_desc("share of trials rewritten (log scale)")
        .y_label_formatter(&probability)
        .axis_desc_style((FONT, 18))
        .label_style((FONT, 15))
        .draw()?;
    let mut shares: Vec<f64> = results
        .cells
        .iter()
        .map(|cell| cell.attacker_share)
        .collect();
    shares.dedup();
    for (index, share) in shares.iter().enumerate() {
        let colour = SHARE_COLOURS[index % SHARE_COLOURS.len()];
        let cells: Vec<&Cell> = results
            .cells
            .iter()
            .filter(|cell| cell.attacker_share == *share)
            .collect();
        draw_share(&mut chart, &cells, *share, colour)?;
    }
    // What the three kinds of line mean, once.
    let style = GREY.stroke_width(2);
    chart
        .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())?
        .label("solid: this network's rules (a tie stays with the first seen)")
        .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], style));
    chart
        .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())?
        .label("dashed: Rosenfeld (2014), a tie wins")
        .legend(move |(x, y)| {
            EmptyElement::at((x, y))
                + PathElement::new([(0, 0), (7, 0)], style)
                + PathElement::new([(13, 0), (20, 0)], style)
        });
    chart
        .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())?
        .label("dotted: Nakamoto (2008), section 11")
        .legend(move |(x, y)| {
            EmptyElement::at((x, y))
                + Circle::new((2, 0), 1, style.filled())
                + Circle::new((8, 0), 1, style.filled())
                + Circle::new((14, 0), 1, style.filled())
                + Circle::new((20, 0), 1, style.filled())
        });
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerLeft)
        .label_font((FONT, 15))
        .background_style(WHITE.mix(0.85))
        .border_style(GREY)
        .draw()?;
    root.present()?;
    Ok(())
}

/// A log axis label: decimals down to 0.001, powers of ten below.
fn probability(value: &f64) -> String {
    if *value >= 1e-3 {
        tidy_number(value)
    } else {
        format!("{value:.0e}")
    }
}

type LogChart<'a, 'b> = ChartContext<
    'a,
    SVGBackend<'b>,
    Cartesian2d<
        plotters::coord::types::RangedCoordf64,
        plotters::coord::combinators::LogCoord<f64>,
    >,
>;

/// One share's three theory lines and its measured points with their intervals.
fn draw_share(
    chart: &mut LogChart<'_, '_>,
    cells: &[&Cell],
    share: f64,
    colour: RGBColor,
) -> Result<(), DrawError> {
    let line = |value: fn(&Cell) -> f64| {
        cells
            .iter()
            .map(move |cell| (f64::from(cell.confirmations), value(cell).max(FLOOR)))
            .collect::<Vec<_>>()
    };
    let style = colour.stroke_width(2);
    chart.draw_series(LineSeries::new(line(|cell| cell.first_seen), style))?;
    chart.draw_series(DashedLineSeries::new(
        line(|cell| cell.rosenfeld),
        8,
        6,
        style,
    ))?;
    chart.draw_series(DottedLineSeries::new(
        line(|cell| cell.nakamoto),
        0,
        6,
        move |point| Circle::new(point, 1, colour.filled()),
    ))?;
    chart
        .draw_series(cells.iter().map(|cell| {
            ErrorBar::new_vertical(
                f64::from(cell.confirmations),
                cell.ci_low.max(FLOOR),
                cell.measured.max(FLOOR),
                cell.ci_high.max(FLOOR),
                colour.stroke_width(2),
                10,
            )
        }))?
        .label(format!("q = {share}: measured, with 95% Wilson interval"))
        .legend(move |(x, y)| Circle::new((x + 10, y), 4, colour.filled()));
    chart.draw_series(cells.iter().map(|cell| {
        Circle::new(
            (f64::from(cell.confirmations), cell.measured.max(FLOOR)),
            4,
            colour.filled(),
        )
    }))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attack::double_spend::analysis::analyze;
    use crate::attack::double_spend::analysis::tests::sample_record;

    #[test]
    fn the_files_are_exactly_as_recorded() {
        let dir = tempfile::tempdir().expect("temp dir");
        write_attack(&analyze(&sample_record()), dir.path()).expect("written");
        for file in [
            "attack-results.json",
            "double-spend.csv",
            "double-spend.svg",
        ] {
            crate::report::tests::assert_same_as_recorded("attack", &dir.path().join(file));
        }
    }

    #[test]
    fn the_csv_has_a_row_per_cell_under_its_header() {
        let dir = tempfile::tempdir().expect("temp dir");
        let results = analyze(&sample_record());
        write_attack(&results, dir.path()).expect("written");
        let text = std::fs::read_to_string(dir.path().join("double-spend.csv")).expect("csv");
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some(CELLS_HEADER.join(",").as_str()));
        assert_eq!(lines.count(), results.cells.len());
    }
}
