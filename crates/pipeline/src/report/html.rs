//! The one-page HTML report beside `report.json`, rendered from the report itself.

use super::{Report, Results, SubregionRow};
use crate::quality::Status;

/// The page of a done knee; `range` is the Tb.Th figure's colour range when it was drawn.
pub fn html_report(report: &Report, r: &Results, range: Option<(f64, f64)>) -> String {
    let mut h = String::from(
        "<!doctype html><meta charset=utf-8><title>SRRD report</title>\
<style>body{font-family:sans-serif;background:#1b1d21;color:#ddd;max-width:1000px;margin:auto}\
table{border-collapse:collapse}td,th{padding:3px 8px;border-bottom:1px solid #444;text-align:right}\
.note{color:#e8b04a}.pass{color:#6ad48a}.warn{color:#e8b04a}.fail{color:#ff6b6b}</style>",
    );
    h += &format!("<h1>SRRD analysis</h1><p>CT: {}</p>", escape(&report.ct));
    if let Some(why) = &report.mr_not_used {
        h += &format!("<p class=note>CT-only: {}</p>", escape(why));
    }
    if let Some(k) = &r.koa {
        h += &format!(
            "<h2>KOA prediction: {} (P(KOA) = {:.2})</h2>",
            k.class, k.probability
        );
        if let Some(t) = k.three_group {
            h += &format!(
                "<p>normal {:.2} · mild {:.2} · advanced {:.2}</p>",
                t[0], t[1], t[2]
            );
        }
    }
    if let Some(why) = &r.koa_withheld {
        h += &format!(
            "<h2>KOA prediction withheld</h2><p class=fail>{}</p>",
            escape(why)
        );
    }
    h += &format!("<p class=note>{}</p>", escape(&r.provenance));
    h += &format!("<p>{}</p>", escape(&r.knee.describe()));
    h += "<h3>Quality checks</h3><table>";
    for c in &r.checks {
        let (mark, class) = match c.status {
            Status::Pass => ("&#10004;", "pass"),
            Status::Warn => ("&#9888;", "warn"),
            Status::Fail => ("&#10008;", "fail"),
        };
        h += &format!(
            "<tr><td class={class}>{mark} {}</td><td style=text-align:left>{}</td><td style=text-align:left>{}</td></tr>",
            c.status.name(),
            escape(&c.name),
            escape(&c.reason)
        );
    }
    h += "</table>";
    if let Some((lo, hi)) = range {
        h += &format!(
            "<h3>Tb.Th map over the CT (coronal)</h3><img src=tb_th_coronal.png><p>colour (bar below the image): Tb.Th from {lo:.2} mm (purple, left) to {hi:.2} mm (yellow, right); the 2nd to 98th percentile of the map</p>"
        );
    }
    let table = |title: &str, rows: &[SubregionRow]| {
        let mut t = format!(
            "<h3>{title}</h3><table><tr><th>subregion</th><th>patches</th><th>BV/TV</th><th>Tb.Th (mm)</th><th>Tb.Sp (mm)</th><th>Tb.N (1/mm)</th></tr>"
        );
        for s in rows {
            t += &format!("<tr><td>{}</td><td>{}</td>", s.subregion, s.patches);
            let (mean, sd) = (s.means(), s.sds());
            for k in 0..4 {
                t += &format!("<td>{:.3} ± {:.3}</td>", mean[k], sd[k]);
            }
            t += "</tr>";
        }
        t + "</table>"
    };
    h += &table(
        "Per subregion, regressed from the CT (mean ± SD over patches)",
        &r.subregions_ct,
    );
    if let Some(mr) = &r.subregions_mr {
        h += &table("Per subregion, measured on the registered MR", mr);
    }
    h += "<h3>Timings</h3><ul>";
    for (stage, s) in &r.timings_s {
        h += &format!("<li>{stage}: {s:.1} s</li>");
    }
    h + "</ul>"
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
