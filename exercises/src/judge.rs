//! From what a run did to a verdict in the student's terms: what was expected, what happened.

use std::time::Duration;

use crate::catalog::{Check, Exercise};
use crate::sandbox::{IdleSample, Outcome};
use crate::Lang;

/// More wake-ups than this in [`crate::sandbox::IDLE_WINDOW`] is a polling loop. A process
/// blocked in the kernel wakes 0 times (the few yields of a backoff happen before the window);
/// a loop that naps 100 ms wakes 3 times.
pub const MAX_IDLE_WAKEUPS: u64 = 2;
/// More CPU than this in the window is a busy loop.
pub const MAX_IDLE_CPU_MS: u64 = 30;

/// Why a run failed, in both languages: the verdict's "happened".
#[derive(Debug, Clone)]
pub struct Failure {
    pub en: String,
    pub zh: String,
}

impl Failure {
    fn new(en: impl Into<String>, zh: impl Into<String>) -> Self {
        Failure {
            en: en.into(),
            zh: zh.into(),
        }
    }
    pub fn text(&self, lang: Lang) -> &str {
        match lang {
            Lang::En => &self.en,
            Lang::Zh => &self.zh,
        }
    }
}

/// Judge one run. `None`: this run passed.
pub fn judge(ex: &Exercise, out: &Outcome, timeout: Duration) -> Option<Failure> {
    let c: &Check = &ex.check;
    let last_lines = tail(&out.stdout, 3);
    if out.timed_out {
        return Some(Failure::new(
            format!(
                "still running after {} s, so the checker killed its whole process group. Something \
                 waits for an event that never comes (a deadlock). Last output: {last_lines}",
                timeout.as_secs_f64()
            ),
            format!(
                "{} 秒后仍在运行，检查器杀掉了它的整个进程组。有东西在等一个永远不会发生的事件（死锁）。最后的输出：{last_lines}",
                timeout.as_secs_f64()
            ),
        ));
    }
    if c.checkpoint_no_children || c.checkpoint_no_fds {
        if !out.checkpoint_seen {
            return Some(Failure::new(
                "the program never reached its `checkpoint()` line (`== checkpoint ==`). Keep that call in place.".to_string(),
                "程序没有运行到 `checkpoint()`（`== checkpoint ==` 这一行）。请保留这个调用。".to_string(),
            ));
        }
        if c.checkpoint_no_children && !out.children_at_checkpoint.is_empty() {
            let list = procs(&out.children_at_checkpoint);
            let zombies = out
                .children_at_checkpoint
                .iter()
                .filter(|p| p.state == 'Z')
                .count();
            return Some(Failure::new(
                format!(
                    "at the checkpoint your process still had children: {list}; {zombies} of them \
                     zombies (exited, never reaped)."
                ),
                format!("到检查点时你的进程仍有子进程：{list}；其中 {zombies} 个是僵尸（已退出但没被回收）。"),
            ));
        }
        if c.checkpoint_no_fds && !out.fds_at_checkpoint.is_empty() {
            let list = out.fds_at_checkpoint.join(", ");
            return Some(Failure::new(
                format!("at the checkpoint your process still held descriptors: {list}."),
                format!("到检查点时你的进程仍持有文件描述符：{list}。"),
            ));
        }
    }
    if !out.leftovers.is_empty() {
        let list = procs(&out.leftovers);
        return Some(Failure::new(
            format!(
                "when main returned, these processes of yours were left behind: {list} \
                 (state Z: a zombie nobody reaped; otherwise an orphan still running). The \
                 checker killed and reaped them."
            ),
            format!(
                "main 返回时留下了这些进程：{list}（状态 Z 是没人回收的僵尸，否则是仍在运行的孤儿）。检查器已杀掉并回收它们。"
            ),
        ));
    }
    if !out.leaked_names.is_empty() {
        let list = out.leaked_names.join(", ");
        return Some(Failure::new(
            format!("the run left a kernel object behind: {list} (the checker removed it). Unlink the name once every process has opened it."),
            format!("运行结束后留下了内核对象：{list}（检查器已删除）。所有进程打开之后就应 unlink 这个名字。"),
        ));
    }
    if c.idle {
        match out.idle {
            None => {
                return Some(Failure::new(
                    "the checker never saw the `== waiting pid=N ==` line (or that process was already gone). Keep that line just before the wait.".to_string(),
                    "检查器没有看到 `== waiting pid=N ==` 这一行（或那个进程已经不在了）。请把这一行保留在等待之前。".to_string(),
                ))
            }
            Some(IdleSample {
                pid,
                wakeups,
                cpu_ms,
            }) if wakeups > MAX_IDLE_WAKEUPS || cpu_ms > MAX_IDLE_CPU_MS => {
                let ms = crate::sandbox::IDLE_WINDOW.as_millis();
                return Some(Failure::new(
                    format!(
                        "while nothing was coming, process {pid} woke up {wakeups} times and used \
                         {cpu_ms} ms of CPU in {ms} ms: that is a polling loop. A blocked process \
                         wakes up (almost) never."
                    ),
                    format!(
                        "在什么都不会到来的时候，进程 {pid} 在 {ms} 毫秒里被唤醒了 {wakeups} 次、用了 {cpu_ms} 毫秒 CPU：这是轮询循环。阻塞的进程（几乎）不会被唤醒。"
                    ),
                ));
            }
            Some(_) => {}
        }
    }
    if out.exit != Some(c.exit_code) {
        let status = match out.exit {
            Some(code) if code < 0 => format!("killed by signal {}", -code),
            Some(code) => format!("exited with status {code}"),
            None => "vanished".to_string(),
        };
        let err = out
            .stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("(nothing on stderr)");
        return Some(Failure::new(
            format!(
                "the program {status} (expected {}). Its last error line: {err}",
                c.exit_code
            ),
            format!(
                "程序{status}（应为 {}）。最后一行错误输出：{err}",
                c.exit_code
            ),
        ));
    }
    for prefix in c.absent {
        if let Some(line) = out.stdout.iter().find(|l| l.starts_with(prefix)) {
            return Some(Failure::new(
                format!("it printed `{line}`, which a correct program does not print."),
                format!("它打印了 `{line}`，正确的程序不会打印这一行。"),
            ));
        }
    }
    for want in c.stderr_has {
        if !out.stderr.contains(want) {
            let err = tail_text(&out.stderr, 2);
            return Some(Failure::new(
                format!("stderr does not mention `{want}`. stderr ends with: {err}"),
                format!("stderr 里没有 `{want}`。stderr 的结尾：{err}"),
            ));
        }
    }
    let lines: Vec<&str> = out.stdout.iter().map(|l| l.trim_end()).collect();
    for want in c.any_order {
        if !lines.contains(want) {
            return Some(missing(want, &last_lines));
        }
    }
    let mut from = 0;
    for want in c.lines {
        match lines[from..].iter().position(|l| l == want) {
            Some(i) => from += i + 1,
            None => {
                if lines.contains(want) {
                    return Some(Failure::new(
                        format!(
                            "`{want}` came too early: the expected order is {:?}.",
                            c.lines
                        ),
                        format!("`{want}` 出现得太早：正确的顺序是 {:?}。", c.lines),
                    ));
                }
                return Some(missing(want, &last_lines));
            }
        }
    }
    None
}

fn missing(want: &str, last_lines: &str) -> Failure {
    Failure::new(
        format!("the line `{want}` never appeared. Last output: {last_lines}"),
        format!("没有出现 `{want}` 这一行。最后的输出：{last_lines}"),
    )
}

fn procs(list: &[crate::sandbox::Proc]) -> String {
    list.iter()
        .map(|p| format!("pid {} ({}, state {})", p.pid, p.comm, p.state))
        .collect::<Vec<_>>()
        .join(", ")
}

fn tail(lines: &[String], n: usize) -> String {
    if lines.is_empty() {
        return "(nothing)".into();
    }
    let start = lines.len().saturating_sub(n);
    lines[start..]
        .iter()
        .map(|l| format!("`{l}`"))
        .collect::<Vec<_>>()
        .join(" / ")
}

fn tail_text(text: &str, n: usize) -> String {
    let lines: Vec<String> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect();
    tail(&lines, n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::{IdleSample, Outcome, Proc};

    fn ok_run(lines: &[&str]) -> Outcome {
        Outcome {
            exit: Some(0),
            stdout: lines.iter().map(|l| l.to_string()).collect(),
            ..Outcome::default()
        }
    }

    const T: Duration = Duration::from_secs(4);

    #[test]
    fn lines_must_come_in_order() {
        let ex = crate::catalog::find("process_orphan").unwrap();
        assert!(judge(ex, &ok_run(&["backup: finished", "main: bye"]), T).is_none());
        let f = judge(ex, &ok_run(&["main: bye", "backup: finished"]), T).unwrap();
        assert!(f.en.contains("too early"), "{}", f.en);
        let f = judge(ex, &ok_run(&["main: bye"]), T).unwrap();
        assert!(f.en.contains("never appeared"), "{}", f.en);
    }

    #[test]
    fn a_timeout_or_a_leftover_fails_whatever_the_output() {
        let ex = crate::catalog::find("process_orphan").unwrap();
        let mut out = ok_run(&["backup: finished", "main: bye"]);
        out.leftovers = vec![Proc {
            pid: 42,
            comm: "sh".into(),
            state: 'S',
        }];
        assert!(judge(ex, &out, T).unwrap().en.contains("pid 42"));
        out.leftovers.clear();
        out.timed_out = true;
        assert!(judge(ex, &out, T)
            .unwrap()
            .en
            .contains("still running after 4 s"));
    }

    #[test]
    fn a_waiter_that_wakes_up_is_polling() {
        let ex = crate::catalog::find("ipc_signal_wait").unwrap();
        let mut out = ok_run(&["got SIGUSR1"]);
        let sample = |wakeups, cpu_ms| {
            Some(IdleSample {
                pid: 7,
                wakeups,
                cpu_ms,
            })
        };
        out.idle = sample(0, 0);
        assert!(judge(ex, &out, T).is_none());
        out.idle = sample(MAX_IDLE_WAKEUPS + 1, 0);
        assert!(judge(ex, &out, T).unwrap().en.contains("polling"));
        out.idle = sample(0, MAX_IDLE_CPU_MS + 10);
        assert!(judge(ex, &out, T).unwrap().en.contains("polling"));
        out.idle = None;
        assert!(judge(ex, &out, T).unwrap().en.contains("waiting pid="));
    }

    #[test]
    fn zombies_at_the_checkpoint_are_counted() {
        let ex = crate::catalog::find("process_zombie").unwrap();
        let mut out = ok_run(&[
            "worker 0: done",
            "worker 1: done",
            "worker 2: done",
            "== checkpoint ==",
            "main: still serving, no zombies",
        ]);
        out.checkpoint_seen = true;
        assert!(judge(ex, &out, T).is_none());
        out.children_at_checkpoint = vec![Proc {
            pid: 9,
            comm: "sh".into(),
            state: 'Z',
        }];
        let f = judge(ex, &out, T).unwrap();
        assert!(f.en.contains("1 of them zombies"), "{}", f.en);
        assert!(f.zh.contains("僵尸"), "{}", f.zh);
    }

    #[test]
    fn every_exercise_has_both_languages_and_a_member() {
        let members = [
            "process",
            "pool",
            "pipe",
            "queue",
            "shared-mem",
            "threads",
            "prodcons",
            "ipc",
        ];
        for ex in crate::catalog::ALL {
            assert!(members.contains(&ex.member), "{}", ex.name);
            for t in [ex.title, ex.expected, ex.hint] {
                assert!(!t.en.is_empty() && !t.zh.is_empty(), "{}", ex.name);
            }
            let shipped = crate::exercises_dir().join(format!("templates/{}.rs", ex.name));
            let answer = crate::exercises_dir().join(format!("solutions/{}.rs", ex.name));
            assert!(shipped.exists() && answer.exists(), "{}", ex.name);
        }
        for m in members {
            let n = crate::catalog::ALL.iter().filter(|e| e.member == m).count();
            assert!(n >= 2, "{m} has {n} exercises");
        }
    }
}
