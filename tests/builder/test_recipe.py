"""meta.yaml rendering (Jinja2, selectors) and its conversion into recipe.yaml; the paths a
recipe may name. Pure: no build runs here."""

from __future__ import annotations

from pathlib import Path

import pytest

from ophis.builder.errors import RecipeError
from ophis.builder.recipe import (
    apply_selectors,
    check_inside,
    check_rendered_paths,
    convert_meta,
    find_recipe,
    is_skipped,
    load_meta_yaml,
    selector_namespace,
)

META = """\
{% set version = "2.0" %}
package:
  name: demo
  version: {{ version }}
source:
  - url: https://example.org/demo-{{ version }}.tar.gz
    sha256: {{ "ab" * 32 }}
  - git_url: https://example.org/demo.git
    git_tag: v{{ version }}
    folder: vendored
build:
  number: 2
  string: custom_2  # [linux]
  script: make install  # [unix]
  script: nmake install  # [win]
  run_exports:
    - demo >={{ version }}
  ignore_run_exports:
    - libfoo
requirements:
  build:
    - {{ compiler('c') }}
  host:
    - libfoo
    - winonly  # [win]
  run:
    - {{ pin_compatible('libfoo', max_pin='x') }}
  run_constrained:
    - demo-extras >=2
test:
  requires:
    - pytest
  imports:
    - demo
  commands:
    - demo --help
  files:
    - tests/data.txt
about:
  home: https://example.org
  dev_url: https://example.org/src
  doc_url: https://example.org/docs
  license: MIT
  license_file: LICENSE
  summary: A demo
extra:
  recipe-maintainers: [someone]
"""


def test_selectors_keep_or_drop_lines_and_keep_the_numbering() -> None:
    text = "a: 1  # [linux]\nb: 2  # [win]\nc: 3  # [unix and x86_64]\n"
    assert apply_selectors(text, selector_namespace("linux-64")) == "a: 1\n\nc: 3\n"
    assert apply_selectors(text, selector_namespace("win-64")) == "\nb: 2\n\n"


def test_an_unknown_selector_name_is_an_error_naming_its_line() -> None:
    with pytest.raises(RecipeError, match=r"line 2: the selector \[foo\]"):
        apply_selectors("a: 1\nb: 2  # [foo]\n", selector_namespace("linux-64"))


def test_variant_selectors_become_rattler_build_conditions(tmp_path: Path) -> None:
    text = (
        "package:\n  name: a\n  version: 1\n"
        "build:\n  skip: true  # [py<310]\n"
        "requirements:\n  host:\n    - python\n  run:\n"
        "    - python\n    - backports  # [py<311 and linux]\n    - tomli  # [py2k or mpi == 'x']\n"
    )
    converted = convert_meta(load_meta_yaml(text, "linux-64", variant=["mpi"]), tmp_path)
    assert converted["build"]["skip"] == ['match(python, "<3.10")']
    assert converted["requirements"]["run"] == [
        "python",
        {"if": 'match(python, "<3.11") and linux', "then": "backports"},
        {"if": "match(python, \"<3\") or mpi == 'x'", "then": "tomli"},
    ]


def test_a_variant_selector_on_a_mapping_key_is_an_error_naming_its_line() -> None:
    text = "package:\n  name: a\n  version: 1\nbuild:\n  number: 1  # [py>=312]\n"
    with pytest.raises(RecipeError, match=r"line 5: a selector that depends on the variant"):
        load_meta_yaml(text, "linux-64")


def test_a_meta_yaml_converts_into_the_recipe_yaml_form(tmp_path: Path) -> None:
    meta = load_meta_yaml(META, "linux-64")
    assert convert_meta(meta, tmp_path) == {
        "schema_version": 1,
        "package": {"name": "demo", "version": "2.0"},
        "source": [
            {"url": "https://example.org/demo-2.0.tar.gz", "sha256": "ab" * 32},
            {"git": "https://example.org/demo.git", "tag": "v2.0", "target_directory": "vendored"},
        ],
        "build": {"number": 2, "string": "custom_2", "script": ["make install"]},
        "requirements": {
            "build": ["${{ compiler('c') }}"],
            "host": ["libfoo"],
            "run": ["${{ pin_compatible('libfoo', max_pin='x') }}"],
            "run_constraints": ["demo-extras >=2"],
            "ignore_run_exports": {"by_name": ["libfoo"]},
            "run_exports": {"weak": ["demo >=2.0"]},
        },
        "tests": [
            {"python": {"imports": ["demo"], "pip_check": False}},
            {
                "script": ["demo --help"],
                "requirements": {"run": ["pytest"]},
                "files": {"recipe": ["tests/data.txt"]},
            },
        ],
        "about": {
            "homepage": "https://example.org",
            "repository": "https://example.org/src",
            "documentation": "https://example.org/docs",
            "license": "MIT",
            "license_file": "LICENSE",
            "summary": "A demo",
        },
        "extra": {"recipe-maintainers": ["someone"]},
    }


def test_the_windows_selectors_pick_the_windows_lines(tmp_path: Path) -> None:
    converted = convert_meta(load_meta_yaml(META, "win-64"), tmp_path)
    assert converted["build"]["script"] == ["nmake install"]
    assert converted["requirements"]["host"] == ["libfoo", "winonly"]
    assert "string" not in converted["build"]


def test_an_unsupported_key_is_an_error_naming_its_line(tmp_path: Path) -> None:
    meta = load_meta_yaml(
        "package:\n  name: a\n  version: 1\nbuild:\n  rpaths: [lib]\n", "linux-64"
    )
    with pytest.raises(RecipeError) as raised:
        convert_meta(meta, tmp_path)
    assert raised.value.line == 5
    assert "line 5: `build/rpaths` is not supported" in raised.value.message


def test_outputs_are_not_supported_and_say_where(tmp_path: Path) -> None:
    meta = load_meta_yaml("package:\n  name: a\n  version: 1\noutputs:\n  - name: b\n", "linux-64")
    with pytest.raises(RecipeError, match="line 4: `outputs` is not supported"):
        convert_meta(meta, tmp_path)


def test_jinja_errors_name_their_line() -> None:
    with pytest.raises(RecipeError, match="line 3: 'nope' is undefined"):
        load_meta_yaml("package:\n  name: a\n  version: {{ nope }}\n", "linux-64")
    with pytest.raises(RecipeError, match="line 2"):
        load_meta_yaml("a: 1\nb: {% if %}\n", "linux-64")


def test_unsupported_jinja_functions_are_refused() -> None:
    with pytest.raises(RecipeError, match="load_setup_py_data"):
        load_meta_yaml("{% set d = load_setup_py_data() %}\npackage: {}\n", "linux-64")


def test_the_jinja_sandbox_keeps_recipes_from_python_internals() -> None:
    with pytest.raises(RecipeError, match="line 1: access to attribute '__class__'"):
        load_meta_yaml("a: {{ ''.__class__.__mro__[1].__subclasses__() }}\n", "linux-64")


def test_variant_keys_stay_for_rattler_build_to_fill_in() -> None:
    meta = load_meta_yaml("a:\n  - python {{ python }}\n", "linux-64", variant={"python": 1})
    assert meta["a"] == ["python ${{ python }}"]


def test_skip_true_for_the_platform_builds_nothing() -> None:
    text = "package:\n  name: a\n  version: 1\nbuild:\n  skip: true  # [win]\n"
    assert is_skipped(load_meta_yaml(text, "win-64"))
    assert not is_skipped(load_meta_yaml(text, "linux-64"))


@pytest.mark.parametrize("path", ["..", "../x", "a/../../x", "/etc", "/"])
def test_paths_leaving_the_recipe_folder_are_refused(tmp_path: Path, path: str) -> None:
    with pytest.raises(RecipeError, match="leads outside the recipe folder"):
        check_inside(tmp_path, path, "source/path")


def test_a_symlink_out_of_the_recipe_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "recipe").mkdir()
    (tmp_path / "recipe" / "link").symlink_to(tmp_path)
    with pytest.raises(RecipeError):
        check_inside(tmp_path / "recipe", "link/secret", "source/path")


def test_paths_inside_and_urls_are_accepted(tmp_path: Path) -> None:
    for path in (".", "src", "a/../b", "https://example.org/x.tar.gz"):
        check_inside(tmp_path, path, "source/path")


def test_rendered_recipes_are_checked_for_sources_patches_and_test_files(tmp_path: Path) -> None:
    check_rendered_paths({"source": [{"path": "src", "patches": ["fix.patch"]}]}, tmp_path)
    with pytest.raises(RecipeError, match="source patch"):
        check_rendered_paths({"source": [{"url": "u", "patches": ["../x.patch"]}]}, tmp_path)
    with pytest.raises(RecipeError, match=r"test file \(recipe\)"):
        check_rendered_paths({"tests": [{"files": {"recipe": ["../../x"]}}]}, tmp_path)
    with pytest.raises(RecipeError, match="about/license_file '/etc/passwd'"):
        check_rendered_paths({"about": {"license_file": ["LICENSE", "/etc/passwd"]}}, tmp_path)


def test_a_meta_yaml_license_file_outside_is_refused_with_its_line(tmp_path: Path) -> None:
    text = "package:\n  name: a\n  version: 1\nabout:\n  license_file: ../../LICENSE\n"
    with pytest.raises(RecipeError, match="line 5: about/license_file"):
        convert_meta(load_meta_yaml(text, "linux-64"), tmp_path)


def test_recipe_yaml_wins_over_meta_yaml_and_a_folder_without_either_is_an_error(
    tmp_path: Path,
) -> None:
    (tmp_path / "meta.yaml").write_text("")
    assert find_recipe(tmp_path).kind == "meta.yaml"
    (tmp_path / "recipe.yaml").write_text("")
    assert find_recipe(tmp_path).kind == "recipe.yaml"
    (tmp_path / "empty").mkdir()
    with pytest.raises(RecipeError, match=r"neither recipe\.yaml nor meta\.yaml"):
        find_recipe(tmp_path / "empty")
