"""Checks Terraform configurations without Terraform (no binary, no provider).

Usage: python terraform_check.py DIR...

Every directory holding .tf files under each DIR is a module. The checker
reports, one line each (`path:line: [kind] message`), and exits 1 on any:

- [parse]     a .tf file python-hcl2 cannot parse as HCL2;
- [var]       `var.x` used in a module that declares no variable x;
- [local]     `local.x` used in a module that defines no local x;
- [unused]    a variable, local or data source declared and never used;
- [module]    a module call whose local source has no .tf files;
- [input]     a module call passing an argument its module declares no
              variable for;
- [required]  a module call leaving out a variable that has no default;
- [output]    `module.m.o` where m is no module call here, or m's module
              declares no output o;
- [resource]  `type.name` (or `ephemeral.type.name`) where the module
              declares no such resource (ephemeral resource);
- [fmt]       what `terraform fmt` would change: CRLF line ends, no final
              newline, trailing whitespace, tabs in indentation, an
              indentation other than two spaces per open bracket (hclwrite's
              rule), `=` of consecutive single-line attributes not aligned
              one space after the longest name, other than one space after
              an `=`.

It must run with an interpreter that has python-hcl2 (scripts/test.sh puts it
in /opt/python-hcl2). Module sources that are not local paths (registry,
git) are not followed.
"""

from __future__ import annotations

import os
import re
import sys

import hcl2

META_ARGUMENTS = {"source", "version", "providers", "count", "for_each", "depends_on"}
NAME = r"[A-Za-z_][A-Za-z0-9_-]*"
VAR_REF = re.compile(r"(?<![\w.])var\.(" + NAME + ")")
LOCAL_REF = re.compile(r"(?<![\w.])local\.(" + NAME + ")")
DATA_REF = re.compile(r"(?<![\w.])data\.(" + NAME + r")\.(" + NAME + ")")
# A resource's type has an underscore (aws_vpc); var, local, each, count,
# path, self and terraform have none.
RESOURCE_REF = re.compile(r"(?<![\w.\]\-])(ephemeral\.)?([a-z][a-z0-9]*_[a-z0-9_]+)\.(" + NAME + ")")
MODULE_REF = re.compile(r"(?<![\w.])module\.(" + NAME + r")(?:\[[^\]]*\])?\.(" + NAME + ")")
HEREDOC_OPEN = re.compile(r"<<-?([A-Za-z_][A-Za-z0-9_]*)\s*$")


class Problems:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, path: str, line: int, kind: str, message: str) -> None:
        self.lines.append(f"{path}:{line}: [{kind}] {message}")


def unquote(label: str) -> str:
    if len(label) >= 2 and label[0] == '"' and label[-1] == '"':
        return label[1:-1]
    return label


def line_of(text: str, needle: str) -> int:
    index = text.find(needle)
    return text.count("\n", 0, index) + 1 if index >= 0 else 1


# ------------------------------------------------------------- references


def interpolations(literal: str) -> list[str]:
    """The `${...}` and `%{...}` parts of a quoted or heredoc template."""
    parts = []
    i = 0
    while i < len(literal):
        if literal.startswith("$${", i) or literal.startswith("%%{", i):
            i += 3
            continue
        if literal[i] in "$%" and literal.startswith("{", i + 1):
            depth = 0
            start = i + 2
            j = start
            while j < len(literal):
                if literal[j] == "{":
                    depth += 1
                elif literal[j] == "}":
                    if depth == 0:
                        break
                    depth -= 1
                j += 1
            parts.append(literal[start:j])
            i = j + 1
            continue
        i += 1
    return parts


def expressions(value) -> list[str]:
    """The expression text in a value of python-hcl2's output: whole
    `${...}` expressions, and only the interpolations of literal strings."""
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if not key.startswith("__"):
                found.extend(expressions(key) if key.startswith("${") else [])
                found.extend(expressions(item))
    elif isinstance(value, list):
        for item in value:
            found.extend(expressions(item))
    elif isinstance(value, str):
        if value.startswith("${") and value.endswith("}"):
            found.append(value)
        else:
            found.extend(interpolations(value))
    return found


def blocks(tree: dict, kind: str) -> list[dict]:
    return [b for b in tree.get(kind, []) if isinstance(b, dict)]


class Module:
    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.files: dict[str, str] = {}
        self.trees: dict[str, dict] = {}
        self.variables: dict[str, tuple[bool, str]] = {}  # name -> (required, file)
        self.outputs: set[str] = set()
        self.locals: set[str] = set()
        self.data: dict[tuple[str, str], str] = {}  # (type, name) -> file
        self.resources: set[tuple[str, str, str]] = set()  # (block kind, type, name)
        self.calls: dict[str, tuple[dict, str]] = {}  # name -> (body, file)

    def load(self, problems: Problems) -> None:
        for name in sorted(os.listdir(self.directory)):
            if not name.endswith(".tf"):
                continue
            path = os.path.join(self.directory, name)
            with open(path, encoding="utf-8", newline="") as f:
                text = f.read()
            self.files[path] = text
            try:
                tree = hcl2.loads(text)
            except Exception as error:  # python-hcl2 raises lark's errors
                first = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
                match = re.search(r"line (\d+)", first)
                problems.add(path, int(match.group(1)) if match else 1, "parse", first)
                continue
            self.trees[path] = tree
            for block in blocks(tree, "variable"):
                for label, body in block.items():
                    self.variables[unquote(label)] = ("default" not in body, path)
            for block in blocks(tree, "output"):
                self.outputs.update(unquote(label) for label in block)
            for block in blocks(tree, "locals"):
                self.locals.update(k for k in block if not k.startswith("__"))
            for kind in ("resource", "ephemeral"):
                for block in blocks(tree, kind):
                    for rtype, named in block.items():
                        if isinstance(named, dict):
                            self.resources.update(
                                (kind, unquote(rtype), unquote(label)) for label in named if not label.startswith("__"))
            for block in blocks(tree, "data"):
                for kind, named in block.items():
                    if isinstance(named, dict):
                        for label in named:
                            if not label.startswith("__"):
                                self.data[(unquote(kind), unquote(label))] = path
            for block in blocks(tree, "module"):
                for label, body in block.items():
                    self.calls[unquote(label)] = (body, path)


def find_modules(roots: list[str]) -> dict[str, Module]:
    modules: dict[str, Module] = {}
    for root in roots:
        for directory, subdirs, files in os.walk(root):
            subdirs[:] = sorted(d for d in subdirs if d != ".terraform")
            if any(f.endswith(".tf") for f in files):
                modules[os.path.normpath(directory)] = Module(os.path.normpath(directory))
    return modules


def check_references(modules: dict[str, Module], problems: Problems) -> None:
    loaded: dict[str, Module] = dict(modules)

    def module_at(directory: str) -> Module | None:
        directory = os.path.normpath(directory)
        if directory not in loaded:
            if not os.path.isdir(directory) or not any(
                f.endswith(".tf") for f in os.listdir(directory)
            ):
                return None
            extra = Module(directory)
            extra.load(Problems())
            loaded[directory] = extra
        return loaded[directory]

    for module in modules.values():
        used_vars: set[str] = set()
        used_locals: set[str] = set()
        used_data: set[tuple[str, str]] = set()
        for path, tree in module.trees.items():
            text = module.files[path]
            for expression in expressions(tree):
                for name in VAR_REF.findall(expression):
                    used_vars.add(name)
                    if name not in module.variables:
                        problems.add(path, line_of(text, f"var.{name}"), "var",
                                     f"var.{name} is used but no variable \"{name}\" is declared in {module.directory}")
                used_data.update(DATA_REF.findall(expression))
                for ephemeral, rtype, name in RESOURCE_REF.findall(expression):
                    kind = "ephemeral" if ephemeral else "resource"
                    if (kind, rtype, name) not in module.resources:
                        problems.add(path, line_of(text, f"{rtype}.{name}"), "resource",
                                     f"{ephemeral}{rtype}.{name}: no {kind} \"{rtype}\" \"{name}\" in {module.directory}")
                for name in LOCAL_REF.findall(expression):
                    used_locals.add(name)
                    if name not in module.locals:
                        problems.add(path, line_of(text, f"local.{name}"), "local",
                                     f"local.{name} is used but no local \"{name}\" is defined in {module.directory}")
                for call, output in MODULE_REF.findall(expression):
                    if call not in module.calls:
                        problems.add(path, line_of(text, f"module.{call}."), "output",
                                     f"module.{call}.{output}: there is no module \"{call}\" in {module.directory}")
                        continue
                    body, _ = module.calls[call]
                    source = unquote(str(body.get("source", "")))
                    if not source.startswith(("./", "../")):
                        continue
                    called = module_at(os.path.join(module.directory, source))
                    if called is not None and output not in called.outputs:
                        problems.add(path, line_of(text, f"module.{call}.{output}"), "output",
                                     f"module.{call}.{output}: {source} declares no output \"{output}\"")
        for name, (_, path) in module.variables.items():
            if name not in used_vars:
                problems.add(path, line_of(module.files[path], f'variable "{name}"'), "unused",
                             f"variable \"{name}\" is declared but never used")
        for name in sorted(module.locals - used_locals):
            path = next(p for p, t in module.files.items() if re.search(rf"^\s*{re.escape(name)}\s*=", t, re.M))
            problems.add(path, line_of(module.files[path], f"  {name} "), "unused",
                         f"local \"{name}\" is defined but never used")
        for (kind, name), path in sorted(module.data.items()):
            if (kind, name) not in used_data:
                problems.add(path, line_of(module.files[path], f'data "{kind}" "{name}"'), "unused",
                             f"data \"{kind}\" \"{name}\" is read but never used")

        for call, (body, path) in module.calls.items():
            text = module.files[path]
            source = unquote(str(body.get("source", "")))
            if not source.startswith(("./", "../")):
                continue
            called = module_at(os.path.join(module.directory, source))
            where = line_of(text, f'module "{call}"')
            if called is None:
                problems.add(path, where, "module", f"module \"{call}\": {source} holds no .tf files")
                continue
            given = {k for k in body if not k.startswith("__") and k not in META_ARGUMENTS}
            for name in sorted(given - set(called.variables)):
                problems.add(path, where, "input",
                             f"module \"{call}\" passes \"{name}\", which {source} does not declare as a variable")
            for name, (required, _) in sorted(called.variables.items()):
                if required and name not in given:
                    problems.add(path, where, "required",
                                 f"module \"{call}\" does not set \"{name}\", which {source} requires (no default)")


# ------------------------------------------------------------- formatting


def tokens_of_line(line: str, stack: list) -> tuple[list[tuple[int, str]], str | None]:
    """The bracket and `=` tokens of one line outside strings and comments,
    as (column, kind) with kind one of "open", "close", "eq", "heredoc";
    and the marker of a heredoc the line opens. `stack` carries the lexer's
    state across lines (template strings, block comments)."""
    tokens: list[tuple[int, str]] = []
    i = 0
    n = len(line)
    while i < n:
        frame = stack[-1]
        c = line[i]
        if frame[0] == "comment":
            end = line.find("*/", i)
            if end < 0:
                return tokens, None
            stack.pop()
            i = end + 2
            continue
        if frame[0] == "str":
            if c == "\\":
                i += 2
            elif c == '"':
                stack.pop()
                i += 1
            elif line.startswith("$${", i) or line.startswith("%%{", i):
                i += 3
            elif c in "$%" and line.startswith("{", i + 1):
                stack.append(["code", 0])
                i += 2
            else:
                i += 1
            continue
        # code
        top = len(stack) == 1
        if c == "#" or line.startswith("//", i):
            break
        if line.startswith("/*", i):
            stack.append(["comment"])
            i += 2
            continue
        if c == '"':
            stack.append(["str"])
            i += 1
            continue
        if line.startswith("<<", i):
            match = HEREDOC_OPEN.match(line, i)
            if match:
                tokens.append((i, "heredoc"))
                return tokens, match.group(1)
        if c in "{[(":
            if top:
                tokens.append((i, "open"))
            else:
                frame[1] += 1
        elif c in "}])":
            if top:
                tokens.append((i, "close"))
            elif c == "}" and frame[1] == 0:
                stack.pop()
            else:
                frame[1] -= 1
        elif c == "=" and top:
            before = line[i - 1] if i > 0 else ""
            after = line[i + 1] if i + 1 < n else ""
            if after in "=>" and after != "":
                i += 2
                continue
            if before not in "!<>=":
                tokens.append((i, "eq"))
        i += 1
    return tokens, None


def net_brackets(tokens: list[tuple[int, str]]) -> int:
    net = 0
    for _, kind in tokens:
        if kind == "heredoc":
            break
        net += {"open": 1, "close": -1}.get(kind, 0)
    return net


def check_format(path: str, text: str, problems: Problems) -> None:
    if "\r" in text:
        problems.add(path, line_of(text, "\r"), "fmt", "CR line ending (use LF)")
    if text and not text.endswith("\n"):
        problems.add(path, text.count("\n") + 1, "fmt", "no newline at the end of the file")
    lines = text.replace("\r\n", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()

    stack: list = [["code", 0]]
    heredoc: str | None = None
    indents: list[int] = []
    chain: list[tuple[int, int, int]] = []  # (line number, lead width, eq column)

    def close_chain() -> None:
        if chain:
            column = max(width for _, width, _ in chain) + 1
            for number, _, eq in chain:
                if eq != column:
                    problems.add(path, number, "fmt",
                                 f"`=` at column {eq + 1}, expected {column + 1} (aligned one space after the longest name of the group)")
        chain.clear()

    for number, line in enumerate(lines, start=1):
        if line != line.rstrip():
            problems.add(path, number, "fmt", "trailing whitespace")
        if heredoc is not None:
            if line.strip() == heredoc:
                heredoc = None
            continue
        in_comment = stack[-1][0] == "comment"
        tokens, heredoc = tokens_of_line(line, stack)
        stripped = line.strip()
        if not stripped or in_comment:
            close_chain()
            continue
        indent = len(line) - len(line.lstrip(" \t"))
        if "\t" in line[:indent]:
            problems.add(path, number, "fmt", "tab in indentation (use two spaces)")

        net = net_brackets(tokens)
        if net > 0:
            expected = 2 * len(indents)
            indents.append(net)
        elif net < 0:
            closed = -net
            while closed > 0 and indents:
                if closed > indents[-1]:
                    closed -= indents.pop()
                elif closed < indents[-1]:
                    indents[-1] -= closed
                    closed = 0
                else:
                    indents.pop()
                    closed = 0
            expected = 2 * len(indents)
        else:
            expected = 2 * len(indents)
        if indent != expected:
            problems.add(path, number, "fmt", f"indented {indent} spaces, expected {expected}")

        eq = next((col for col, kind in tokens if kind == "eq"), None)
        is_assign = (
            eq is not None
            and line[:eq].strip() != ""
            and net_brackets([t for t in tokens if t[0] >= eq]) == 0
        )
        if is_assign:
            rest = line[eq + 1:]
            if not rest.startswith(" ") or rest.startswith("  "):
                problems.add(path, number, "fmt", "one space after `=`")
            chain.append((number, len(line[:eq].rstrip()), eq))
        else:
            close_chain()
            if eq is not None and line[:eq].strip() != "" and not re.search(r"\S = (\S|$)", line[eq - 2:eq + 3]):
                # `name = {` opening a multi-line value: one space each side.
                problems.add(path, number, "fmt", "one space each side of `=`")
    close_chain()


def main(argv: list[str]) -> int:
    if not argv or any(a.startswith("-") for a in argv):
        print(__doc__, file=sys.stderr)
        return 2
    problems = Problems()
    modules = find_modules(argv)
    if not modules:
        print(f"no .tf files under {' '.join(argv)}", file=sys.stderr)
        return 2
    for module in modules.values():
        module.load(problems)
        for path, text in module.files.items():
            check_format(path, text, problems)
    check_references(modules, problems)
    for line in problems.lines:
        print(line)
    files = sum(len(m.files) for m in modules.values())
    print(f"terraform_check: {files} files in {len(modules)} modules, {len(problems.lines)} problems",
          file=sys.stderr)
    return 1 if problems.lines else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
