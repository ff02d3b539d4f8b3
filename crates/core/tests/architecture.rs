//! The workspace's shape, checked: crates depend downward only (core ←
//! app, stores ← server), `core` and `app` know no HTTP or SQL crate, and
//! within each crate no two modules import each other, directly or through
//! others (a module that names `crate::X` or `super::X` depends on the
//! module that defines `X`; the crate root counts as a module, so a module
//! that reaches for something re-exported at the root is a cycle too).
//!
//! The checker reads the sources as text: `use` lines and inline
//! `crate::`/`super::` paths, outside comments and `#[cfg(test)]` code.
//! It is first shown to find a cycle in a fixture.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A crate's modules: module path (`crate`, `http::error`...) → source.
type Modules = BTreeMap<String, String>;

/// The module a source file defines: `src/lib.rs` → `crate`,
/// `src/a/b.rs` or `src/a/b/mod.rs` → `a::b`.
fn module_of(relative: &Path) -> Option<String> {
    let parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let (last, dirs) = parts.split_last()?;
    let stem = last.strip_suffix(".rs")?;
    let mut path: Vec<String> = dirs.to_vec();
    match stem {
        "lib" if dirs.is_empty() => return Some("crate".to_owned()),
        "main" if dirs.is_empty() => return None,
        "mod" => {}
        other => path.push(other.to_owned()),
    }
    Some(path.join("::"))
}

/// The source with comments, string contents and `#[cfg(test)]` code removed.
fn code_of(source: &str) -> String {
    let source = match source.find("#[cfg(test)]") {
        Some(at) => &source[..at],
        None => source,
    };
    let mut out = String::with_capacity(source.len());
    for line in source.lines() {
        let line = match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        };
        // Paths inside string literals (SQL, messages) are not imports.
        let mut in_string = false;
        let mut prev = ' ';
        for c in line.chars() {
            if c == '"' && prev != '\\' {
                in_string = !in_string;
            } else if !in_string {
                out.push(c);
            }
            prev = c;
        }
        out.push('\n');
    }
    inline_modules_refer_to_their_file(&out)
}

/// Inside an inline `mod name { ... }`, `super::` is the file's own module:
/// rewritten to `self::` (which names no other module).
fn inline_modules_refer_to_their_file(code: &str) -> String {
    let mut out = code.to_owned();
    let mut from = 0;
    while let Some(at) = out[from..].find("mod ").map(|i| i + from) {
        let after = &out[at + 4..];
        let name_len = after
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(after.len());
        let rest = after[name_len..].trim_start();
        from = at + 4;
        if name_len == 0 || !rest.starts_with('{') {
            continue;
        }
        let open = at + 4 + name_len + (after[name_len..].len() - rest.len());
        let mut depth = 0usize;
        let mut close = out.len();
        for (i, c) in out[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        close = open + i;
                        break;
                    }
                }
                _ => {}
            }
        }
        let body = out[open..close].replace("super::", "self::");
        out.replace_range(open..close, &body);
    }
    out
}

/// Every `crate::a::b` or `super::a` path in the code, resolved from `module`
/// to the longest module it names (the root when it names none).
fn dependencies(module: &str, code: &str, known: &BTreeSet<String>) -> BTreeSet<String> {
    let mut deps = BTreeSet::new();
    let is_ident = |c: char| c.is_alphanumeric() || c == '_' || c == ':';
    let mut rest = code;
    while let Some(at) = rest.find(['c', 's']) {
        let tail = &rest[at..];
        let before_ok = rest[..at]
            .chars()
            .last()
            .is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
        let (base, after) = if before_ok && tail.starts_with("crate::") {
            (Vec::new(), &tail["crate::".len()..])
        } else if before_ok && tail.starts_with("super::") {
            let mut base: Vec<&str> = if module == "crate" {
                Vec::new()
            } else {
                module.split("::").collect()
            };
            base.pop();
            (base, &tail["super::".len()..])
        } else {
            rest = &tail[1..];
            continue;
        };
        let path: String = after.chars().take_while(|c| is_ident(*c)).collect();
        let mut prefix: Vec<&str> = base;
        prefix.extend(path.split("::").filter(|s| !s.is_empty()));
        // `crate::a::{b, c::d}` names `a::b` and `a::c::d`.
        let tail = &after[path.len()..];
        let mut paths: Vec<Vec<&str>> = Vec::new();
        if path.ends_with("::") && tail.starts_with('{') {
            let group = &tail[1..tail.find('}').unwrap_or(tail.len())];
            for item in group.split(',') {
                let item = item.trim().trim_start_matches('{');
                let mut full = prefix.clone();
                full.extend(item.split("::").filter(|s| !s.is_empty() && *s != "self"));
                paths.push(full);
            }
        } else {
            paths.push(prefix);
        }
        for segments in paths {
            // The longest prefix that is a module is the dependency.
            let mut target = "crate".to_owned();
            for n in (1..=segments.len()).rev() {
                let candidate = segments[..n].join("::");
                if known.contains(&candidate) {
                    target = candidate;
                    break;
                }
            }
            if target != module {
                deps.insert(target);
            }
        }
        rest = tail;
    }
    deps
}

/// The crate's module graph: module → the modules it depends on.
fn graph(modules: &Modules) -> BTreeMap<String, BTreeSet<String>> {
    let known: BTreeSet<String> = modules.keys().cloned().collect();
    let mut g = BTreeMap::new();
    for (module, source) in modules {
        let code = code_of(source);
        let mut deps = dependencies(module, &code, &known);
        // The root declares its modules, and a module its submodules.
        for line in code.lines() {
            let line = line.trim();
            let decl = line
                .strip_prefix("pub mod ")
                .or_else(|| line.strip_prefix("pub(crate) mod "))
                .or_else(|| line.strip_prefix("mod "));
            if let Some(name) = decl.and_then(|d| d.strip_suffix(';')) {
                let child = if module == "crate" {
                    name.to_owned()
                } else {
                    format!("{module}::{name}")
                };
                if known.contains(&child) {
                    deps.insert(child);
                }
            }
        }
        g.insert(module.clone(), deps);
    }
    g
}

/// The groups of modules that depend on each other (Tarjan's strongly
/// connected components of more than one module).
fn cycles(g: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct Tarjan<'a> {
        g: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        next: usize,
        found: Vec<Vec<String>>,
    }
    impl<'a> Tarjan<'a> {
        fn visit(&mut self, v: &'a str) {
            self.index.insert(v, self.next);
            self.low.insert(v, self.next);
            self.next += 1;
            self.stack.push(v);
            self.on_stack.insert(v);
            for w in self.g.get(v).into_iter().flatten() {
                let w = w.as_str();
                if !self.g.contains_key(w) {
                    continue;
                }
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let low = self.low[v].min(self.low[w]);
                    self.low.insert(v, low);
                } else if self.on_stack.contains(w) {
                    let low = self.low[v].min(self.index[w]);
                    self.low.insert(v, low);
                }
            }
            if self.low[v] == self.index[v] {
                let mut group = Vec::new();
                while let Some(w) = self.stack.pop() {
                    self.on_stack.remove(w);
                    group.push(w.to_owned());
                    if w == v {
                        break;
                    }
                }
                if group.len() > 1 {
                    group.sort();
                    self.found.push(group);
                }
            }
        }
    }
    let mut t = Tarjan {
        g,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        next: 0,
        found: Vec::new(),
    };
    for v in g.keys() {
        if !t.index.contains_key(v.as_str()) {
            t.visit(v);
        }
    }
    t.found
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read_modules(src: &Path) -> Modules {
    fn walk(dir: &Path, root: &Path, out: &mut Modules) {
        for entry in std::fs::read_dir(dir).expect("read a source directory") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                walk(&path, root, out);
            } else if let Some(module) = path.strip_prefix(root).ok().and_then(module_of) {
                out.insert(
                    module,
                    std::fs::read_to_string(&path).expect("read a source file"),
                );
            }
        }
    }
    let mut out = Modules::new();
    walk(src, src, &mut out);
    out
}

const CRATES: &[&str] = &[
    "core",
    "app",
    "store-sqlite",
    "store-postgres",
    "store-tests",
    "server",
    "ops-tests",
];

#[test]
fn the_checker_finds_a_cycle_in_a_fixture() {
    let fixture: Modules = [
        (
            "crate",
            "pub mod a;\npub mod b;\npub mod c;\npub use a::Thing;\n",
        ),
        ("a", "use crate::b::Other;\npub struct Thing;\n"),
        ("b", "use super::c::Helper;\npub struct Other;\n"),
        // c reaches back to a through the root's re-export: a cycle a → b → c → root → a.
        (
            "c",
            "pub fn helper() -> crate::Thing { crate::Thing }\npub struct Helper;\n\
               mod inner { use super::Helper; }\n",
        ),
    ]
    .into_iter()
    .map(|(m, s)| (m.to_owned(), s.to_owned()))
    .collect();
    let found = cycles(&graph(&fixture));
    assert_eq!(found, [vec!["a", "b", "c", "crate"]], "{found:?}");

    // Without the reach for the root, and with paths only in comments,
    // strings and tests, there is none.
    let mut clean = fixture.clone();
    clean.insert(
        "c".into(),
        "// crate::a::Thing in a comment\npub fn helper() -> &'static str { \"crate::a\" }\n\
         pub struct Helper;\n#[cfg(test)]\nmod tests { use crate::a::Thing; }\n"
            .into(),
    );
    assert!(cycles(&graph(&clean)).is_empty());
}

#[test]
fn no_module_imports_another_that_imports_it_back() {
    let mut report = Vec::new();
    for name in CRATES {
        let src = workspace().join("crates").join(name).join("src");
        let modules = read_modules(&src);
        assert!(modules.contains_key("crate"), "{name} has a lib.rs");
        for group in cycles(&graph(&modules)) {
            report.push(format!("{name}: {}", group.join(" <-> ")));
        }
    }
    assert!(report.is_empty(), "import cycles:\n{}", report.join("\n"));
}

/// The workspace crates a crate's manifest depends on.
fn workspace_dependencies(name: &str) -> (BTreeSet<String>, String) {
    let manifest =
        std::fs::read_to_string(workspace().join("crates").join(name).join("Cargo.toml"))
            .expect("read a manifest");
    let deps = manifest
        .lines()
        .filter_map(|l| l.trim().strip_prefix("inventory-"))
        .filter_map(|l| l.split(['.', ' ', '=']).next())
        .map(str::to_owned)
        .collect();
    (deps, manifest)
}

#[test]
fn crates_depend_downward_only() {
    let allowed: &[(&str, &[&str])] = &[
        ("core", &[]),
        ("app", &["core", "store-sqlite"]),
        ("store-sqlite", &["core", "store-tests"]),
        ("store-postgres", &["core", "store-tests"]),
        ("store-tests", &["core"]),
        ("server", &["app", "core", "store-sqlite", "store-postgres"]),
        ("ops-tests", &[]),
    ];
    for (name, may) in allowed {
        let (deps, manifest) = workspace_dependencies(name);
        for dep in &deps {
            assert!(
                may.contains(&dep.as_str()),
                "{name} depends on inventory-{dep}"
            );
        }
        // The domain and the application layer know no HTTP and no SQL.
        if matches!(*name, "core" | "app") {
            for foreign in [
                "axum",
                "tower",
                "hyper",
                "sqlx",
                "rusqlite",
                "utoipa-swagger-ui",
            ] {
                assert!(
                    !manifest
                        .lines()
                        .any(|l| l.trim().starts_with(&format!("{foreign} "))
                            || l.trim().starts_with(&format!("{foreign}."))),
                    "{name} depends on {foreign}"
                );
            }
        }
    }
    // `app` uses a store only in its own tests.
    let (_, app) = workspace_dependencies("app");
    let dev = app.split("[dev-dependencies]").nth(1).unwrap_or_default();
    assert!(!app
        .split("[dev-dependencies]")
        .next()
        .unwrap()
        .contains("inventory-store"));
    assert!(dev.contains("inventory-store-sqlite") || !app.contains("inventory-store"));
}
