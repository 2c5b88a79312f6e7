//! The end of the demo: the figures of every phase added up in one `summary` line, and one
//! `error:` line for everything that went wrong (exit 1).

use anyhow::{bail, Result};
use common::{json, out};

use crate::ending::Ending;
use crate::ledger::Verdict;
use crate::phases::{PhaseResult, Setting};

/// Print the summary of all phases; fail if a role failed or a self-check broke.
pub fn finish(results: &[PhaseResult], setting: Setting) -> Result<()> {
    let sum = |f: fn(&Verdict) -> u64| results.iter().map(|r| f(&r.verdict)).sum::<u64>();
    let sum_ms = |f: fn(&Verdict) -> f64| {
        (results.iter().map(|r| f(&r.verdict)).sum::<f64>() * 1000.0).round() / 1000.0
    };
    let first = &results[0].spec;
    let failed: Vec<&Ending> = results
        .iter()
        .flat_map(|r| &r.endings)
        .filter(|e| !e.is_ok())
        .collect();
    let problems: Vec<String> = results
        .iter()
        .flat_map(|r| r.problems.iter().map(move |p| format!("{}: {p}", r.name)))
        .collect();
    let phases: Vec<_> = results
        .iter()
        .map(|r| {
            json!({"name": r.name, "produce_ms": r.spec.produce_ms, "consume_ms": r.spec.consume_ms,
                   "result": r.verdict, "problems": r.problems,
                   "roles": r.endings.iter().map(Ending::to_json).collect::<Vec<_>>()})
        })
        .collect();
    out::summary(json!({
        "mode": setting.mode.name(),
        "queue": setting.queue_name(),
        "producers": first.producers,
        "consumers": first.consumers,
        "items": first.items,
        "capacity": first.capacity,
        "produced": sum(|v| v.produced),
        "consumed": sum(|v| v.consumed),
        "lost": sum(|v| v.lost),
        "duplicated": sum(|v| v.duplicated),
        "unexpected": sum(|v| v.unexpected),
        "undelivered": sum(|v| v.undelivered),
        "per_producer_fifo": results.iter().all(|r| r.verdict.per_producer_fifo),
        "max_occupancy": results.iter().map(|r| r.verdict.max_occupancy).max().unwrap_or(0),
        "producer_blocked_ms": sum_ms(|v| v.producer_blocked_ms),
        "consumer_blocked_ms": sum_ms(|v| v.consumer_blocked_ms),
        "failed": failed.iter().map(|e| e.to_json()).collect::<Vec<_>>(),
        "problems": problems,
        "phases": phases,
    }));
    // One `error:` line for everything that went wrong: who died first, then the broken checks.
    let mut errors = Vec::new();
    if let Some(first_failure) = failed.first() {
        let more = if failed.len() > 1 {
            format!(" (and {} more)", failed.len() - 1)
        } else {
            String::new()
        };
        let how = first_failure.failure().unwrap_or_default();
        errors.push(format!("{} {how}{more}", first_failure.who()));
    }
    if !problems.is_empty() {
        errors.push(format!("self-check failed: {}", problems.join("; ")));
    }
    if !errors.is_empty() {
        bail!("{}", errors.join("; "));
    }
    Ok(())
}
