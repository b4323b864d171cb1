//! Printing `annal bench` results: an aligned table for people, one JSON document for machines.

use comfy_table::{Cell, CellAlignment, Table};
use serde_json::json;

use super::measure::Figure;
use crate::output::Output;

fn number(value: f64) -> String {
    if value.is_nan() {
        // A figure not measured in this run (a kept store's build).
        "-".to_owned()
    } else if value >= 100.0 {
        let rounded = value.round() as u64;
        let digits = rounded.to_string();
        let mut grouped = String::new();
        for (index, digit) in digits.chars().enumerate() {
            if index > 0 && (digits.len() - index).is_multiple_of(3) {
                grouped.push(',');
            }
            grouped.push(digit);
        }
        grouped
    } else if value >= 1.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.3}")
    }
}

pub(crate) fn print(
    out: &mut Output,
    events: u64,
    machine: &str,
    figures: &[Figure],
) -> anyhow::Result<()> {
    if out.json() {
        return out.json_line(&json!({
            "events": events,
            "machine": machine,
            "figures": figures,
        }));
    }
    let mut table = Table::new();
    table.load_preset(comfy_table::presets::NOTHING);
    table.set_header(vec![
        "step", "annal", "unit", "seed", "vs seed", "ceiling", "target", "",
    ]);
    for figure in figures {
        let optional = |value: Option<f64>| value.map_or_else(String::new, number);
        let verdict = match figure.met() {
            Some(true) => "ok",
            Some(false) => "MISSED",
            None => "",
        };
        table.add_row(vec![
            Cell::new(&figure.step),
            Cell::new(number(figure.value)).set_alignment(CellAlignment::Right),
            Cell::new(figure.unit),
            Cell::new(optional(figure.seed)).set_alignment(CellAlignment::Right),
            Cell::new(
                figure
                    .vs_seed()
                    .map_or_else(String::new, |r| format!("{r:.1}x")),
            )
            .set_alignment(CellAlignment::Right),
            Cell::new(optional(figure.ceiling)).set_alignment(CellAlignment::Right),
            Cell::new(optional(figure.target)).set_alignment(CellAlignment::Right),
            Cell::new(verdict),
        ]);
    }
    out.text(&format!(
        "annal bench: workload wl1, {events} events, embedded store\nmachine: {machine}\n"
    ))?;
    out.text(&table.to_string())
}

/// The `--scale` table: a row per step, a column per store size.
pub(crate) fn print_scale(
    out: &mut Output,
    backend: &str,
    machine: &str,
    columns: &[(u64, Vec<Figure>)],
) -> anyhow::Result<()> {
    if out.json() {
        let sizes: Vec<_> = columns
            .iter()
            .map(|(events, figures)| json!({ "events": events, "figures": figures }))
            .collect();
        return out.json_line(&json!({ "backend": backend, "machine": machine, "sizes": sizes }));
    }
    let mut table = Table::new();
    let mut header = vec![Cell::new(format!("step ({backend})"))];
    header.extend(
        columns
            .iter()
            .map(|(events, _)| Cell::new(format!("{} events", number(*events as f64)))),
    );
    header.push(Cell::new("unit"));
    table.set_header(header);
    let Some((_, first)) = columns.first() else {
        return out.text(&format!("{machine}: no sizes"));
    };
    for (row, figure) in first.iter().enumerate() {
        let mut cells = vec![Cell::new(&figure.step)];
        for (_, figures) in columns {
            let value = figures.get(row).map_or(String::new(), |f| number(f.value));
            cells.push(Cell::new(value).set_alignment(CellAlignment::Right));
        }
        cells.push(Cell::new(figure.unit));
        table.add_row(cells);
    }
    out.text(&format!("{machine}\n{table}"))
}
