"""Recipes: finding them, rendering conda-build's ``meta.yaml`` (Jinja2, then selectors) and
converting it into the ``recipe.yaml`` form (rattler-build's, CEP-13/14), and refusing
paths that leave the recipe folder.

Everything here is pure but for reading the recipe files: values in, values out.
"""

from __future__ import annotations

import io
import platform
import re
import sys
import traceback
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from ophis.builder.errors import RecipeError

RECIPE_YAML, META_YAML = "recipe.yaml", "meta.yaml"
_SELECTOR = re.compile(r"^(?P<text>.*?)\s*#\s*\[(?P<expr>.+)\]\s*$")
_META_TEMPLATE = "meta.yaml"


@dataclass(frozen=True)
class RecipeSource:
    """A recipe on disk: its folder, its file and which format that file is in."""

    folder: Path
    path: Path
    kind: str  # RECIPE_YAML or META_YAML


def find_recipe(where: Path) -> RecipeSource:
    """The recipe in ``where`` (a folder, or the file itself); recipe.yaml wins."""
    where = where.resolve()
    if where.is_file():
        kind = META_YAML if where.name == META_YAML else RECIPE_YAML
        return RecipeSource(where.parent, where, kind)
    for name in (RECIPE_YAML, META_YAML):
        if (where / name).is_file():
            return RecipeSource(where, where / name, name)
    raise RecipeError(
        f"No recipe in {where}: it has neither recipe.yaml nor meta.yaml.",
        "Point `ophis build` at a recipe folder, or write one with `ophis skeleton pypi`.",
    )


# --- meta.yaml: Jinja2 then selectors -----------------------------------------------------------


def selector_namespace(subdir: str, extra: Mapping[str, Any] = {}) -> dict[str, Any]:
    """The names conda-build's selectors see for a target ``subdir`` (``linux-64``, ...)."""
    plat, _, arch = subdir.partition("-")
    names: dict[str, Any] = {
        "linux": plat == "linux",
        "osx": plat == "osx",
        "win": plat == "win",
        "unix": plat in ("linux", "osx"),
        "x86": arch in ("32", "64"),
        "x86_64": arch == "64",
        "aarch64": arch == "aarch64",
        "arm64": arch == "arm64",
        "ppc64le": arch == "ppc64le",
        "noarch": plat == "noarch",
    }
    for key in ("linux", "osx", "win"):
        names[f"{key}64"] = names[key] and arch == "64"
        names[f"{key}32"] = names[key] and arch == "32"
    names.update(extra)
    return names


def host_subdir() -> str:
    """This machine's conda subdir (``linux-64``, ``osx-arm64``, ...)."""
    system = {"linux": "linux", "darwin": "osx", "win32": "win"}.get(sys.platform, sys.platform)
    machine = platform.machine().lower()
    arch = {"x86_64": "64", "amd64": "64", "i686": "32", "x86": "32"}.get(machine, machine)
    return f"{system}-{arch}"


def _passthrough(function: str) -> Any:
    """A Jinja function of conda-build whose rattler-build twin has the same meaning: it is
    written out as ``${{ function(...) }}`` for rattler-build to evaluate per variant."""

    def call(*args: Any, **kwargs: Any) -> str:
        parts = [repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()]
        return "${{ " + f"{function}({', '.join(parts)})" + " }}"

    return call


def _unsupported(function: str) -> Any:
    def call(*_: Any, **__: Any) -> str:
        raise RecipeError(
            f"meta.yaml calls {function}(), which Ophis does not support.",
            "Write the values into the recipe, or convert it to recipe.yaml.",
        )

    return call


def render_jinja(text: str, environ: Mapping[str, str], variant_keys: Iterable[str] = ()) -> str:
    """``meta.yaml`` through Jinja2 in a sandbox, as conda-build's first pass does. Lines are
    kept where they were, so that later errors can name them; a variable of the variant
    (``{{ python }}``) stays for rattler-build to fill in per variant."""
    env = SandboxedEnvironment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    context: dict[str, Any] = {key: "${{ " + key + " }}" for key in variant_keys}
    context["environ"] = dict(environ)
    for name in ("compiler", "stdlib", "pin_subpackage", "pin_compatible", "cdt"):
        context[name] = _passthrough(name)
    # conda-build's build-time names: the interpreter as rattler-build's own variable, the
    # folders as the variables its scripts see
    context["PYTHON"] = "${{ PYTHON }}"
    for name in ("PREFIX", "BUILD_PREFIX", "SRC_DIR", "RECIPE_DIR"):
        context[name] = f"${name}"
    for name in ("load_setup_py_data", "load_file_data", "load_file_regex", "load_str_data"):
        context[name] = _unsupported(name)
    try:
        return env.from_string(text).render(context)
    except jinja2.TemplateSyntaxError as error:
        raise RecipeError(
            f"meta.yaml line {error.lineno}: {error.message}",
            "Fix the Jinja2 syntax.",
            line=error.lineno,
        ) from None
    except jinja2.UndefinedError as error:
        remedy = "Define it with {% set name = ... %}, or in a variant config."
        raise _jinja_error(error, remedy) from None
    except jinja2.TemplateError as error:  # the sandbox's SecurityError among them
        remedy = "Recipes may use Jinja2 expressions, not Python internals."
        raise _jinja_error(error, remedy) from None


def _jinja_error(error: jinja2.TemplateError, remedy: str) -> RecipeError:
    line = _template_line(error)
    where = f"meta.yaml line {line}" if line else "meta.yaml"
    return RecipeError(f"{where}: {error.message}", remedy, line=line)


def _template_line(error: BaseException) -> int | None:
    """The template line Jinja2 was on when ``error`` was raised."""
    frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename == "<template>"]
    return frames[-1].lineno if frames else None


def apply_selectors(text: str, namespace: Mapping[str, Any]) -> str:
    """Drop each line whose ``# [expression]`` is false (blank lines keep the numbering)."""
    return split_selectors(text, namespace)[0]


def split_selectors(
    text: str, namespace: Mapping[str, Any], variant_names: Iterable[str] = ()
) -> tuple[str, dict[int, str]]:
    """:func:`apply_selectors`, but a selector that names a variant key (``py``, ``np``, a
    key of the variant files) cannot be decided here: its line is kept and returned, by
    number, with the selector translated for rattler-build (``py<311`` becomes
    ``match(python, "<3.11")``), to become a per-variant condition."""
    deferrable = {*_VARIANT_SELECTORS, *variant_names}
    lines, deferred = [], {}
    for number, line in enumerate(text.splitlines(), 1):
        match = _SELECTOR.match(line)
        if match is None:
            lines.append(line)
            continue
        keep = _evaluate(match["expr"], namespace, number, deferrable)
        if keep is None:
            deferred[number] = to_rattler_condition(match["expr"])
        lines.append(match["text"] if keep is not False else "")
    return "\n".join(lines) + "\n", deferred


_VARIANT_SELECTORS = {"py", "py3k", "py2k", "np"}
_VERSION_COMPARISON = re.compile(r"\b(py|np)\s*(==|!=|>=|<=|<|>)\s*(\d)(\d+)\b")


def to_rattler_condition(expression: str) -> str:
    """A conda-build selector as a rattler-build condition: ``py>=311`` ->
    ``match(python, ">=3.11")``, ``py3k`` -> ``match(python, ">=3")``; the rest of the
    expression (``linux``, ``and``, ``not``, variant keys) reads the same in both."""

    def comparison(m: re.Match[str]) -> str:
        key = "python" if m[1] == "py" else "numpy"
        return f'match({key}, "{m[2]}{m[3]}.{m[4]}")'

    condition = _VERSION_COMPARISON.sub(comparison, expression)
    condition = re.sub(r"\bpy3k\b", 'match(python, ">=3")', condition)
    return re.sub(r"\bpy2k\b", 'match(python, "<3")', condition).strip()


def _evaluate(
    expression: str, namespace: Mapping[str, Any], line: int, deferrable: Iterable[str] = ()
) -> bool | None:
    """The selector's value, or None when it depends on a variant key."""
    try:
        # conda-build evaluates selectors as Python; no builtins, only the selector names
        return bool(eval(expression, {"__builtins__": {}}, dict(namespace)))
    except NameError as error:
        if error.name in deferrable:
            return None
        raise RecipeError(
            f"meta.yaml line {line}: the selector [{expression}] uses an unknown name ({error}).",
            "Selectors may use linux, osx, win, unix, x86_64, aarch64, arm64, noarch and "
            "the variant's keys.",
            line=line,
        ) from None
    except Exception as error:
        raise RecipeError(
            f"meta.yaml line {line}: the selector [{expression}] is not valid ({error}).",
            "Write a Python expression such as [linux and x86_64].",
            line=line,
        ) from None


def load_meta_yaml(
    text: str,
    subdir: str,
    environ: Mapping[str, str] = {},
    variant: Iterable[str] = (),
) -> CommentedMap:
    """A meta.yaml as a YAML mapping that still knows its line numbers; list items whose
    selector depends on the variant become ``{if: condition, then: item}``."""
    variant = list(variant)
    rendered, deferred = split_selectors(
        render_jinja(text, environ, variant), selector_namespace(subdir), variant
    )
    try:
        data = YAML(typ="rt").load(rendered)
    except MarkedYAMLError as error:
        line = error.problem_mark.line + 1 if error.problem_mark else None
        raise RecipeError(
            f"meta.yaml line {line}: {error.problem}", "Fix the YAML.", line=line
        ) from None
    if not isinstance(data, CommentedMap):
        raise RecipeError("meta.yaml is not a mapping.", "Start it with `package:`.")
    _apply_deferred(data, deferred)
    return data


def _apply_deferred(data: CommentedMap, deferred: Mapping[int, str]) -> None:
    """Turn the lines of variant-dependent selectors into rattler-build conditions: a list
    item into ``{if, then}``, ``skip: true`` into a skip condition; anything else is an
    error naming its line (rattler-build has no conditional mapping keys)."""
    used: set[int] = set()

    def walk(node: Any, path: str) -> None:
        if isinstance(node, CommentedMap):
            for key in list(node):
                line = _line_of(node, key)
                if line in deferred and f"{path}/{key}" == "/build/skip":
                    node[key] = CommentedSeq([deferred[line]])
                    used.add(line)
                else:
                    walk(node[key], f"{path}/{key}")
        elif isinstance(node, CommentedSeq):
            for index, item in enumerate(node):
                line = _item_line(node, index)
                if line in deferred and not isinstance(item, CommentedMap | CommentedSeq):
                    node[index] = {"if": deferred[line], "then": item}
                    used.add(line)
                else:
                    walk(item, path)

    walk(data, "")
    for line in sorted(set(deferred) - used):
        raise RecipeError(
            f"meta.yaml line {line}: a selector that depends on the variant "
            f"([{deferred[line]}]) can only be on a list item or on build/skip.",
            "Move it onto the list items it chooses, or write the recipe as recipe.yaml.",
            line=line,
        )


def _item_line(seq: CommentedSeq, index: int) -> int | None:
    try:
        return seq.lc.item(index)[0] + 1
    except (AttributeError, KeyError, TypeError):
        return None


# --- meta.yaml -> recipe.yaml ---------------------------------------------------------------------

_SUPPORTED = {
    "": {"package", "source", "build", "requirements", "test", "about", "extra"},
    "package": {"name", "version"},
    "source": {
        "path", "url", "sha256", "md5", "fn", "git_url", "git_rev", "git_tag", "git_depth",
        "folder", "patches",
    },
    "build": {
        "number", "string", "script", "noarch", "entry_points", "run_exports", "skip",
        "ignore_run_exports",
    },
    "requirements": {"build", "host", "run", "run_constrained"},
    "test": {"imports", "commands", "requires", "files", "source_files"},
    "about": {
        "home", "dev_url", "doc_url", "license", "license_family", "license_file", "summary",
        "description",
    },
}  # fmt: skip
_ABOUT = {"home": "homepage", "dev_url": "repository", "doc_url": "documentation"}


def _line_of(mapping: Any, key: str) -> int | None:
    try:
        return mapping.lc.key(key)[0] + 1
    except (AttributeError, KeyError, TypeError):
        return None


def _check_keys(section: str, mapping: Any) -> None:
    if mapping is None:
        return
    if not isinstance(mapping, Mapping):
        raise RecipeError(f"meta.yaml: `{section}` must be a mapping.", "Fix the recipe.")
    for key in mapping:
        if key not in _SUPPORTED[section]:
            line = _line_of(mapping, key)
            where = f"{section}/{key}" if section else key
            raise RecipeError(
                f"meta.yaml line {line}: `{where}` is not supported by Ophis's converter.",
                "Remove it, or write the recipe as recipe.yaml (rattler-build's format).",
                line=line,
            )


def _strings(value: Any) -> list[Any]:
    """A list of non-empty strings (selectors can leave None behind); per-variant items
    (``{if, then}``) are kept as they are."""
    if value is None:
        return []
    items = value if isinstance(value, list | CommentedSeq) else [value]
    out: list[Any] = []
    for item in items:
        if isinstance(item, Mapping) and "if" in item:
            out.append({"if": item["if"], "then": str(item["then"])})
        elif item is not None and str(item).strip():
            out.append(str(item))
    return out


def _names(value: Any) -> list[str]:
    """The plain strings of :func:`_strings`, conditional or not (for path checks)."""
    return [item["then"] if isinstance(item, dict) else item for item in _strings(value)]


def is_skipped(meta: Mapping[str, Any]) -> bool:
    """``build: skip: true`` (after selectors): conda-build builds nothing. A skip that
    depends on the variant is a condition (a list), applied per variant later."""
    skip = (meta.get("build") or {}).get("skip")
    return not isinstance(skip, list) and bool(skip)


def convert_meta(meta: Mapping[str, Any], recipe_dir: Path) -> dict[str, Any]:
    """The recipe.yaml equivalent of a rendered meta.yaml (checked key by key)."""
    _check_keys("", meta)
    for section in ("package", "build", "requirements", "test", "about"):
        _check_keys(section, meta.get(section))
    package = meta.get("package") or {}
    if not package.get("name") or package.get("version") is None:
        raise RecipeError("meta.yaml needs package/name and package/version.", "Add them.")
    recipe: dict[str, Any] = {
        "schema_version": 1,
        "package": {"name": str(package["name"]), "version": str(package["version"])},
    }
    if meta.get("source"):
        recipe["source"] = _sources(meta["source"], recipe_dir)
    build, run_exports = _build(meta.get("build") or {})
    recipe["build"] = build
    recipe["requirements"] = _requirements(meta.get("requirements") or {}, meta.get("build"))
    if run_exports:
        recipe["requirements"]["run_exports"] = run_exports
    tests = _tests(meta.get("test") or {}, recipe_dir)
    if tests:
        recipe["tests"] = tests
    about = meta.get("about") or {}
    if about:
        for name in _names(about.get("license_file")):
            check_inside(recipe_dir, name, "about/license_file", _line_of(about, "license_file"))
        # conda-build reads an empty value (grayskull writes `license: ''`) as none
        recipe["about"] = {_ABOUT.get(k, k): _plain(v) for k, v in about.items() if v != ""}
    if meta.get("extra"):
        recipe["extra"] = _plain(meta["extra"])
    return recipe


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _sources(value: Any, recipe_dir: Path) -> list[dict[str, Any]]:
    entries = value if isinstance(value, list) else [value]
    out = []
    for entry in entries:
        _check_keys("source", entry)
        out.append(_source(entry, recipe_dir))
    return out


def _source(entry: Mapping[str, Any], recipe_dir: Path) -> dict[str, Any]:
    source: dict[str, Any] = {}
    if "path" in entry:
        line = _line_of(entry, "path")
        check_inside(recipe_dir, str(entry["path"]), "source/path", line)
        source["path"] = str(entry["path"])
    elif "url" in entry:
        source["url"] = str(entry["url"])
        for key in ("sha256", "md5"):
            if key in entry:
                source[key] = str(entry[key])
        if "fn" in entry:
            source["file_name"] = str(entry["fn"])
    elif "git_url" in entry:
        source["git"] = str(entry["git_url"])
        if "git_tag" in entry:
            source["tag"] = str(entry["git_tag"])
        elif "git_rev" in entry:
            source["rev"] = str(entry["git_rev"])
        if "git_depth" in entry:
            source["depth"] = int(entry["git_depth"])
    else:
        raise RecipeError(
            "meta.yaml: a source needs path, url or git_url.", "Say where the source is."
        )
    if "folder" in entry:
        check_inside(recipe_dir, str(entry["folder"]), "source/folder", _line_of(entry, "folder"))
        source["target_directory"] = str(entry["folder"])
    if "patches" in entry:
        for patch in _names(entry["patches"]):
            check_inside(recipe_dir, patch, "source/patches", _line_of(entry, "patches"))
        source["patches"] = _strings(entry["patches"])
    return source


def _build(build: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    out: dict[str, Any] = {"number": int(build.get("number") or 0)}
    if build.get("string"):
        out["string"] = str(build["string"])
    if build.get("script"):
        out["script"] = _strings(build["script"])
    if isinstance(build.get("skip"), list):
        out["skip"] = [str(condition) for condition in build["skip"]]
    if build.get("noarch"):
        out["noarch"] = str(build["noarch"])
    entry_points = _strings(build.get("entry_points"))
    if entry_points:
        out["python"] = {"entry_points": entry_points}
    exports = build.get("run_exports")
    if isinstance(exports, Mapping):
        run_exports = {k: _strings(v) for k, v in exports.items()}
    else:
        run_exports = {"weak": _strings(exports)} if exports else {}
    return out, run_exports


def _requirements(reqs: Mapping[str, Any], build: Mapping[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in ("build", "host", "run"):
        if _strings(reqs.get(key)):
            out[key] = _strings(reqs.get(key))
    if _strings(reqs.get("run_constrained")):
        out["run_constraints"] = _strings(reqs.get("run_constrained"))
    ignored = _strings((build or {}).get("ignore_run_exports"))
    if ignored:
        out["ignore_run_exports"] = {"by_name": ignored}
    return out


def _tests(test: Mapping[str, Any], recipe_dir: Path) -> list[dict[str, Any]]:
    tests: list[dict[str, Any]] = []
    imports = _strings(test.get("imports"))
    if imports:
        tests.append({"python": {"imports": imports, "pip_check": False}})
    commands = _strings(test.get("commands"))
    if commands:
        script: dict[str, Any] = {"script": commands}
        if _strings(test.get("requires")):
            script["requirements"] = {"run": _strings(test.get("requires"))}
        files: dict[str, list[str]] = {}
        for key, kind in (("files", "recipe"), ("source_files", "source")):
            for name in _names(test.get(key)):
                check_inside(recipe_dir, name, f"test/{key}", _line_of(test, key))
                files.setdefault(kind, []).append(name)
        if files:
            script["files"] = files
        tests.append(script)
    return tests


# --- paths that must stay inside the recipe folder -----------------------------------------------


def check_inside(folder: Path, path: str, what: str, line: int | None = None) -> None:
    """Refuse ``path`` (relative to ``folder``) when it leads out of ``folder``: a recipe must
    not read the builder's other files into a package."""
    if "://" in path:
        return  # a URL, not a path
    candidate = PurePosixPath(path)
    inside = not candidate.is_absolute() and _stays_inside(folder, path)
    if not inside:
        where = f"line {line}: " if line else ""
        raise RecipeError(
            f"{where}{what} '{path}' leads outside the recipe folder {folder}.",
            "Keep sources and test files inside the recipe folder (copy them there).",
            line=line,
        )


def _stays_inside(folder: Path, path: str) -> bool:
    depth = 0
    for part in PurePosixPath(path).parts:
        depth += -1 if part == ".." else 0 if part == "." else 1
        if depth < 0:
            return False
    # a symlink inside the folder could still point out of it
    resolved = (folder / path).resolve()
    return resolved == folder.resolve() or folder.resolve() in resolved.parents


def check_rendered_paths(rendered: Mapping[str, Any], folder: Path) -> None:
    """The checks of :func:`check_inside` on a rendered recipe.yaml (every source path and
    every test file taken from the recipe or the source)."""
    sources = rendered.get("source") or []
    for source in sources if isinstance(sources, list) else [sources]:
        if isinstance(source, Mapping) and source.get("path"):
            check_inside(folder, str(source["path"]), "source path")
        for patch in (source or {}).get("patches") or []:
            check_inside(folder, str(patch), "source patch")
    for test in rendered.get("tests") or []:
        files = (test or {}).get("files") or {}
        for kind in ("recipe", "source"):
            for name in _file_list(files.get(kind)):
                check_inside(folder, name, f"test file ({kind})")
    # licence files are copied into info/licenses
    for name in _names((rendered.get("about") or {}).get("license_file")):
        check_inside(folder, name, "about/license_file")


def _file_list(value: Any) -> list[str]:
    if isinstance(value, Mapping):  # {include: [...], exclude: [...]}
        value = value.get("include")
    return _names(value)


def dump_yaml(document: Any) -> str:
    """YAML as people write recipes: block style, keys in the order given."""
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.sort_base_mapping_type_on_output = False  # type: ignore[attr-defined]
    stream = io.StringIO()
    yaml.dump(document, stream)
    return stream.getvalue()
