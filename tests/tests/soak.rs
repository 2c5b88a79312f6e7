//! The bounded slice of the soak runner that CI runs (the full run: `cargo run -p tests --bin
//! soak -- --runs 1000`). Every case at least once, some interrupted at a random moment.

#[test]
fn soak_slice() {
    let n = tests::soak::cases().len() as u64;
    let totals = tests::soak::soak(2 * n, 20261122, "", 4);
    assert!(
        totals.failures.is_empty(),
        "soak slice: {totals}\n{}",
        totals.failures.join("\n")
    );
    assert!(
        totals.faults_injected > 0,
        "the slice injected no fault: {totals}"
    );
}
