//! The operations kit, each part checked by its real tool, one test binary:
//! scripts/ run for real (`scripts`), the password rotation under load
//! (`rotation`), the deployment manifests, Dockerfile and compose.yaml
//! (`deploy`), the image built and run by podman (`container`), the
//! monitoring kit with a real Prometheus (`monitoring`), promtool and
//! shellcheck on what we ship (`tooling`), deploy/terraform parsed,
//! cross-referenced, format-checked and scanned by checkov (`terraform`),
//! the supply-chain and code scans of scripts/security-checks.sh
//! (`security`), and the delivery pipeline: the GitHub workflows, the
//! Jenkinsfile, commit messages, the changelog and the perf gates
//! (`pipelines`). Each checker is first shown to fail on a fixture in
//! tests/fixtures/.
//!
//! Where a test needs a running server it starts the built `inventory`
//! binary (`inventory_ops_tests::inventory_bin`; `common` for a fresh one
//! with the helpers of the server's own tests): this crate does not depend
//! on the server, so that changing it does not relink these tests.

mod common;

mod container;
mod deploy;
mod monitoring;
mod pipelines;
mod rotation;
mod scripts;
mod security;
mod terraform;
mod tooling;
