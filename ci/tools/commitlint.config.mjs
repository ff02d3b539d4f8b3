// Commit messages are Conventional Commits (https://www.conventionalcommits.org):
// `type(scope)!: subject`, a blank line, then the body. Checked by
// ci/check-commits.sh over every commit since ci/commits-base (the history
// before that is not conventional), in ci.yml and in the README's test
// command (crates/ops-tests/tests/ops/pipelines.rs).
//
// The rules are @commitlint/config-conventional's (the type list, a
// lower-case type, a non-empty subject with no trailing full stop, a blank
// line before the body and the footer), except the lengths and the case of
// the subject: this project writes long, specific subjects and bodies
// ("fix(store): ... because ..."), which the changelog keeps as they are.
export default {
  extends: ["@commitlint/config-conventional"],
  rules: {
    "header-max-length": [0],
    "body-max-line-length": [0],
    "footer-max-line-length": [0],
    "subject-case": [0],
  },
};
