//! Tests of the harness itself: a check that cannot fail is no check. These run small shell
//! programs (not demos) that misbehave on purpose, and expect the harness to notice.

use std::path::Path;
use std::time::Duration;

use nix::sys::signal::Signal;
use tests::start_program;

fn panic_text(r: std::thread::Result<tests::Run>) -> String {
    match r {
        Ok(_) => String::new(),
        Err(e) => e
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default(),
    }
}

#[test]
fn a_leaked_background_process_fails_the_run() {
    let r = std::panic::catch_unwind(|| {
        // The shell exits at once, leaving `sleep` running in the same process group.
        start_program(
            Path::new("/bin/sh"),
            "sh",
            &["-c", "sleep 30 & exit 0"],
            usize::MAX,
        )
        .finish()
    });
    let msg = panic_text(r);
    assert!(
        msg.contains("processes left behind"),
        "harness missed a leak: {msg:?}"
    );
}

#[test]
fn an_orphan_that_survives_its_killed_parent_fails_the_run() {
    let r = std::panic::catch_unwind(|| {
        let mut run = start_program(
            Path::new("/bin/sh"),
            "sh",
            &["-c", "sleep 30 & echo started; wait"],
            usize::MAX,
        );
        run.wait_for(Duration::from_secs(5), |v| v == "started");
        run.signal(Signal::SIGKILL);
        run.finish()
    });
    let msg = panic_text(r);
    assert!(
        msg.contains("still alive"),
        "harness missed a surviving orphan: {msg:?}"
    );
}

#[test]
fn a_clean_program_passes() {
    let run = start_program(Path::new("/bin/sh"), "sh", &["-c", "echo hi"], usize::MAX).finish();
    run.expect_code(0);
    assert_eq!(run.stdout, "hi\n");
}
