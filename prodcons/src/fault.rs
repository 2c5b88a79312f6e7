//! Test hooks (cargo feature `fault-injection`, off by default): make one role panic, or kill a
//! producer process in the middle of a put. The tests and the soak turn the feature on to check
//! that a dying role is reported and the others finish; the binary a student builds has neither
//! the hidden flags nor the hooks.

use anyhow::Result;

use crate::ledger::Side;
use crate::roles::{Buffer, Spec};
use crate::{Cli, Mode};

/// The hidden flags, flattened into [`Cli`].
#[derive(clap::Args, Debug, Clone, Default)]
pub struct FaultArgs {
    /// Test hook: make one role panic. `producer:N:K` panics before putting its item K (0-based);
    /// `consumer:N:0` before its first get, `consumer:N:K` right after its K-th get, item in hand.
    #[arg(long, global = true, hide = true, value_name = "ROLE:N:K", value_parser = parse_inject)]
    pub inject_panic: Option<Inject>,
    /// Test hook (`--mode processes`): producer N is SIGKILLed in the middle of putting its item
    /// K (0-based), after claiming a slot of the queue and before publishing it.
    #[arg(long, global = true, hide = true, value_name = "N:K", value_parser = parse_kill_mid_put)]
    pub inject_kill_mid_put: Option<KillMidPut>,
}

/// A panic to inject (`--inject-panic`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inject {
    /// Which side.
    pub side: Side,
    /// Which one, 1-based.
    pub index: u32,
    /// Producer: items put before the panic. Consumer: items got before it (0 = before any get).
    pub after: u32,
}

/// A producer to kill in the middle of a put (`--inject-kill-mid-put`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KillMidPut {
    /// Which producer, 1-based.
    pub producer: u32,
    /// During the put of its item number `seq` (0-based).
    pub seq: u32,
}

fn parse_kill_mid_put(s: &str) -> Result<KillMidPut, String> {
    let (producer, seq) = s.split_once(':').ok_or("expected N:K")?;
    let producer: u32 = producer.parse().map_err(|_| "N must be a number")?;
    let seq: u32 = seq.parse().map_err(|_| "K must be a number")?;
    if producer == 0 {
        return Err("N counts from 1".into());
    }
    Ok(KillMidPut { producer, seq })
}

fn parse_inject(s: &str) -> Result<Inject, String> {
    let parts: Vec<&str> = s.split(':').collect();
    let side = match parts.first() {
        Some(&"producer") => Side::Producer,
        Some(&"consumer") => Side::Consumer,
        _ => return Err("expected producer:N:K or consumer:N:K".into()),
    };
    if parts.len() != 3 {
        return Err("expected ROLE:N:K".into());
    }
    let number = |part: &str| -> Result<u32, String> {
        part.parse::<u32>()
            .map_err(|_| "N and K must be numbers".to_string())
    };
    let (index, after) = (number(parts[1])?, number(parts[2])?);
    if index == 0 {
        return Err("N counts from 1".into());
    }
    Ok(Inject { side, index, after })
}

/// Refuse hooks that cannot fire in this run (exit 2, before anything starts).
pub fn validate(cli: &Cli, producers: u32, consumers: u32, items: u32) -> Result<()> {
    let f = &cli.fault;
    if let Some(k) = f.inject_kill_mid_put {
        let value = format!("{}:{}", k.producer, k.seq);
        if cli.mode != Mode::Processes {
            return Err(common::cli::usage(
                "--inject-kill-mid-put",
                value,
                "only with --mode processes (a thread cannot be killed alone)",
            ));
        }
        if k.producer > producers || k.seq >= items {
            return Err(common::cli::usage(
                "--inject-kill-mid-put",
                value,
                format!("N must be at most {producers} and K below {items}"),
            ));
        }
    }
    if let Some(i) = f.inject_panic {
        let (count, flag) = match i.side {
            Side::Producer => (producers, "producers"),
            Side::Consumer => (consumers, "consumers"),
        };
        let value = format!("{}:{}:{}", i.side.name(), i.index, i.after);
        if i.index > count {
            return Err(common::cli::usage(
                "--inject-panic",
                value,
                format!("there are only {count} {flag}"),
            ));
        }
        let most = match i.side {
            Side::Producer => items - 1,
            Side::Consumer => items * producers,
        };
        if i.after > most {
            return Err(common::cli::usage(
                "--inject-panic",
                value,
                format!("K must be at most {most}"),
            ));
        }
    }
    Ok(())
}

fn panics_here(spec: &Spec, side: Side, index: u32, done: u32) -> bool {
    spec.fault
        .inject_panic
        .is_some_and(|i| i.side == side && i.index == index + 1 && i.after == done)
}

/// Producer `producer` (0-based), about to make item `seq`: panic, or arm the kill, if asked to.
pub fn before_put(spec: &Spec, buf: &dyn Buffer, producer: u32, seq: u32) {
    if panics_here(spec, Side::Producer, producer, seq) {
        panic!(
            "injected panic: producer {} after putting {seq} items",
            producer + 1
        );
    }
    if spec.fault.inject_kill_mid_put
        == Some(KillMidPut {
            producer: producer + 1,
            seq,
        })
    {
        buf.die_in_next_put();
    }
}

/// Consumer `consumer` (0-based), before its first get: panic if asked to.
pub fn before_first_get(spec: &Spec, consumer: u32) {
    if panics_here(spec, Side::Consumer, consumer, 0) {
        panic!(
            "injected panic: consumer {} before its first get",
            consumer + 1
        );
    }
}

/// Consumer `consumer` (0-based) holds `item`, its `got`-th: panic if asked to. The item is out of the
/// queue and will never be recorded: the demo must report it lost, which is what the test of
/// this path checks.
pub fn after_get(spec: &Spec, consumer: u32, got: u32, item: crate::Item) {
    if panics_here(spec, Side::Consumer, consumer, got) {
        panic!(
            "injected panic: consumer {} holding item {}.{} (its item number {got})",
            consumer + 1,
            item.producer + 1,
            item.seq
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inject_parses() {
        assert_eq!(
            parse_inject("consumer:2:0"),
            Ok(Inject {
                side: Side::Consumer,
                index: 2,
                after: 0
            })
        );
        assert!(parse_inject("producer:0:1").is_err());
        assert!(parse_inject("producer:1").is_err());
        assert!(parse_inject("boss:1:1").is_err());
        assert_eq!(
            parse_kill_mid_put("2:5"),
            Ok(KillMidPut {
                producer: 2,
                seq: 5
            })
        );
        assert!(parse_kill_mid_put("0:5").is_err());
    }
}
