//! The two outputs: a fixed-width table for people (one line printed as soon as a figure is
//! done, so a long run shows progress) and one JSON object per figure for tools.

use serde_json::{json, Value};

use crate::figure::{Better, Row};
use crate::stats::Sample;

/// Three significant digits, without an exponent: 1234 -> "1234", 56.04 -> "56.0",
/// 0.4417 -> "0.442", 0.0512 -> "0.0512".
pub fn sig3(x: f64) -> String {
    if !x.is_finite() {
        return format!("{x}");
    }
    if x == 0.0 {
        return "0".into();
    }
    let mag = x.abs().log10().floor() as i32;
    let decimals = (2 - mag).clamp(0, 6) as usize;
    format!("{x:.decimals$}")
}

/// A measured cell: `median (min-max)`, or a dash when not measured.
pub fn cell(s: Option<Sample>) -> String {
    match s {
        None => "-".into(),
        Some(s) if s.runs == 1 => sig3(s.median),
        Some(s) => format!("{} ({}-{})", sig3(s.median), sig3(s.min), sig3(s.max)),
    }
}

fn ratio(q: Option<f64>) -> String {
    q.map_or_else(|| "-".into(), sig3)
}

const W: [usize; 12] = [18, 13, 24, 24, 24, 24, 8, 8, 9, 13, 4, 16];

fn join(cols: [&str; 12]) -> String {
    let mut s = String::new();
    for (i, (c, w)) in cols.iter().zip(W).enumerate() {
        if i > 0 {
            s.push_str("  ");
        }
        // Numbers right-aligned, words left-aligned.
        if (2..=8).contains(&i) {
            s.push_str(&format!("{c:>w$}"));
        } else {
            s.push_str(&format!("{c:<w$}"));
        }
    }
    s.trim_end().to_string()
}

/// The header line and a rule under it.
pub fn header() -> String {
    let h = join([
        "figure",
        "unit",
        "ours",
        "Python",
        "raw",
        "Rust peer",
        "ours/Py",
        "ours/raw",
        "ours/peer",
        "target",
        "met",
        "vs peer",
    ]);
    let rule = "-".repeat(h.len());
    format!("{h}\n{rule}")
}

/// The `vs peer` cell: which crate, and whether ours is at least as good (`no` is written by
/// the caller, plain or bold); a floor is named as such and judged by nobody.
fn vs_peer(r: &Row, no: &str) -> String {
    let Some(p) = r.peer else {
        return String::new();
    };
    if p.floor {
        return format!("{} (floor)", p.name);
    }
    match r.beats_peer() {
        None => format!("{}: -", p.name),
        Some(true) => format!("{}: yes", p.name),
        Some(false) => format!("{}: {no}", p.name),
    }
}

/// One table line.
pub fn line(r: &Row) -> String {
    let met = match r.met() {
        None => "",
        Some(true) => "yes",
        Some(false) => "NO",
    };
    let target = r.figure.target.describe(r.figure.better);
    join([
        r.figure.id,
        r.figure.unit,
        &cell(r.ours),
        &cell(r.python),
        &cell(r.raw),
        &cell(r.rust_peer),
        &ratio(r.ours_over_python()),
        &ratio(r.ours_over_raw()),
        &ratio(r.ours_over_rust_peer()),
        &target,
        met,
        &vs_peer(r, "NO"),
    ])
}

/// The markdown table's header (for the README: `--markdown`).
pub fn markdown_header() -> String {
    "| figure | unit | ours | Python | raw | Rust peer | ours/Python | ours/raw | ours/peer | target | met | vs peer |\n\
     |---|---|---:|---:|---:|---:|---:|---:|---:|---|---|---|"
        .to_string()
}

/// One markdown table row.
pub fn markdown_line(r: &Row) -> String {
    let met = match r.met() {
        None => "",
        Some(true) => "yes",
        Some(false) => "**no**",
    };
    format!(
        "| `{}` | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
        r.figure.id,
        r.figure.unit,
        cell(r.ours),
        cell(r.python),
        cell(r.raw),
        cell(r.rust_peer),
        ratio(r.ours_over_python()),
        ratio(r.ours_over_raw()),
        ratio(r.ours_over_rust_peer()),
        r.figure
            .target
            .describe(r.figure.better)
            .replace('>', "&gt;")
            .replace('<', "&lt;"),
        met,
        vs_peer(r, "**no**"),
    )
}

fn sample_json(s: Option<Sample>) -> (Value, Value, Value) {
    match s {
        None => (Value::Null, Value::Null, Value::Null),
        Some(s) => (json!(s.median), json!(s.min), json!(s.max)),
    }
}

/// The JSON fields of one figure: `figure`, `unit`, `ours`, `python`, `raw`, `rust_peer`
/// (medians, `null` when not measured), their min and max, the three ratios, the target and
/// whether it is met, whether ours beats the Rust peer (`null` for a floor), and what each
/// column ran.
pub fn json(r: &Row) -> Value {
    let (ours, ours_min, ours_max) = sample_json(r.ours);
    let (py, py_min, py_max) = sample_json(r.python);
    let (raw, raw_min, raw_max) = sample_json(r.raw);
    let (peer, peer_min, peer_max) = sample_json(r.rust_peer);
    json!({
        "figure": r.figure.id,
        "unit": r.figure.unit,
        "higher_is_better": r.figure.better == Better::Higher,
        "ours": ours, "ours_min": ours_min, "ours_max": ours_max,
        "python": py, "python_min": py_min, "python_max": py_max,
        "raw": raw, "raw_min": raw_min, "raw_max": raw_max,
        "rust_peer": peer, "rust_peer_min": peer_min, "rust_peer_max": peer_max,
        "ours_over_python": r.ours_over_python(),
        "ours_over_raw": r.ours_over_raw(),
        "ours_over_rust_peer": r.ours_over_rust_peer(),
        "runs": r.ours.or(r.raw).map(|s| s.runs),
        "target": r.figure.target.describe(r.figure.better),
        "met": r.met(),
        "ours_what": r.figure.ours_what,
        "raw_what": r.figure.raw_what,
        "rust_peer_name": r.peer.map(|p| p.name),
        "rust_peer_what": r.peer.map(|p| p.what),
        "rust_peer_is_floor": r.peer.map(|p| p.floor),
        "ours_beats_rust_peer": r.beats_peer(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::figure::tests::figure;
    use crate::figure::Target;

    #[test]
    fn three_significant_digits() {
        assert_eq!(sig3(1234.4), "1234");
        assert_eq!(sig3(280.2), "280");
        assert_eq!(sig3(56.04), "56.0");
        assert_eq!(sig3(5.9), "5.90");
        assert_eq!(sig3(0.4417), "0.442");
        assert_eq!(sig3(0.05123), "0.0512");
        assert_eq!(sig3(0.0), "0");
        assert_eq!(sig3(-4.5678), "-4.57");
    }

    #[test]
    fn cells_show_median_and_range() {
        assert_eq!(cell(Sample::of(&[3.0, 1.0, 2.0])), "2.00 (1.00-3.00)");
        assert_eq!(cell(Sample::of(&[42.0])), "42.0");
        assert_eq!(cell(None), "-");
    }

    fn row() -> Row {
        Row {
            figure: figure(Better::Lower, Target::TimesPython(20.0)),
            ours: Sample::of(&[10.0, 11.0, 12.0]),
            python: Sample::of(&[280.0]),
            raw: None,
            peer: Some(crate::peer::Peer {
                name: "peercrate",
                what: "the peer's loop",
                measure: |_| Ok(1.0),
                size: 10,
                floor: false,
            }),
            rust_peer: Sample::of(&[20.0]),
        }
    }

    #[test]
    fn a_line_lines_up_with_the_header() {
        let h = header();
        let head = h.lines().next().unwrap();
        let l = line(&row());
        // Every column of the line starts where the header's does (widths are fixed).
        for name in ["unit", "Rust peer", "ours/peer", "target", "vs peer"] {
            let at = head.find(name).unwrap();
            assert_eq!(
                &l[at - 2..at],
                "  ",
                "column {name} starts at {at} in {l:?}"
            );
        }
        assert!(l.starts_with("t.fig "), "{l}");
        assert!(l.contains("11.0 (10.0-12.0)"), "{l}");
        assert!(l.contains("0.0393"), "ours/Py = 11/280: {l}");
        assert!(l.contains(">=20x Python"), "{l}");
        assert!(l.contains("  0.550  "), "ours/peer = 11/20: {l}");
        assert!(l.ends_with("yes   peercrate: yes"), "{l}");
        assert_eq!(h.lines().nth(1).unwrap().len(), head.len());
    }

    #[test]
    fn markdown_rows_have_as_many_cells_as_the_header() {
        let h = markdown_header();
        let cols = |l: &str| l.matches('|').count();
        let l = markdown_line(&row());
        assert_eq!(cols(&l), cols(h.lines().next().unwrap()));
        assert_eq!(cols(&l), cols(h.lines().nth(1).unwrap()));
        assert!(l.contains("&gt;=20x Python"), "{l}");
        assert!(
            l.starts_with("| `t.fig` | us/call | 11.0 (10.0-12.0) | 280 | - | 20.0 |"),
            "{l}"
        );
        assert!(l.ends_with("| yes | peercrate: yes |"), "{l}");
    }

    #[test]
    fn json_has_the_fields_the_issue_names() {
        let j = json(&row());
        for k in [
            "figure",
            "unit",
            "ours",
            "python",
            "raw",
            "rust_peer",
            "rust_peer_what",
            "ours_over_rust_peer",
        ] {
            assert!(j.get(k).is_some(), "missing {k} in {j}");
        }
        assert_eq!(j["figure"], "t.fig");
        assert_eq!(j["ours"], 11.0);
        assert_eq!(j["ours_min"], 10.0);
        assert_eq!(j["python"], 280.0);
        assert!(j["raw"].is_null());
        assert_eq!(j["met"], true);
        assert_eq!(j["rust_peer"], 20.0);
        assert_eq!(j["ours_over_rust_peer"], 0.55);
        assert_eq!(j["rust_peer_what"], "the peer's loop");
        assert_eq!(j["ours_beats_rust_peer"], true);
    }
}
