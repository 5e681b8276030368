# Everyday commands. `just --list` shows them.

# Run the whole test suite (unit, property, conformance, doc tests).
test:
    cargo test --workspace

# Property tests with many more cases.
test-long:
    PROPTEST_CASES=2000 cargo test --workspace

# Formatting and lints, as CI runs them.
lint:
    cargo fmt --all --check
    cargo clippy --workspace --all-targets -- -D warnings

# Run a tutorial example, e.g. `just example quickstart`.
example NAME:
    cargo run --release --example {{NAME}}

# The benchmark workloads (see BENCHMARKS in the docs).
bench *ARGS:
    cargo run --release -p lamina-bench -- {{ARGS}}

# API docs for every crate.
doc:
    cargo doc --workspace --no-deps

# Everything CI runs.
ci:
    bash .ci/run
