# Copyright (c) 2026 secops.rotation contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The module contract, as structure (CONTRIBUTING "Module shape"): module files are documentation and one call,
module_utils functions stay short enough to read, and their public functions and classes carry type hints."""

import ast
from pathlib import Path

import pytest

PLUGINS = Path(__file__).resolve().parents[3] / 'plugins'
MODULES = sorted((PLUGINS / 'modules').glob('*.py'))
MODULE_UTILS = sorted((PLUGINS / 'module_utils').glob('_*.py'))
MAX_LINES = 60


def _tree(path):
    return ast.parse(path.read_text(encoding='utf-8'))


@pytest.mark.parametrize('path', MODULES, ids=lambda path: path.stem)
def test_a_module_file_is_documentation_and_one_call(path):
    tree = _tree(path)
    defined = [node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))]
    assert defined == ['main']
    main = next(node for node in tree.body if isinstance(node, ast.FunctionDef))
    calls = [node for node in main.body if not isinstance(node, ast.Expr) or not isinstance(node.value, ast.Constant)]
    assert len(calls) == 1, 'main() of %s should be one RotationModule(...).run() call' % path.name
    assert 'RotationModule' in ast.unparse(calls[0])


def _functions(path):
    for node in ast.walk(_tree(path)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node


@pytest.mark.parametrize('path', MODULE_UTILS, ids=lambda path: path.stem)
def test_no_module_utils_function_is_too_long_to_read(path):
    long = ['%s (%d lines)' % (node.name, node.end_lineno - node.lineno + 1) for node in _functions(path)
            if node.end_lineno - node.lineno + 1 > MAX_LINES]
    assert not long


@pytest.mark.parametrize('path', MODULE_UTILS, ids=lambda path: path.stem)
def test_public_functions_of_module_utils_have_type_hints(path):
    tree = _tree(path)
    missing = []
    scopes = [tree.body] + [node.body for node in tree.body if isinstance(node, ast.ClassDef) and not node.name.startswith('_')]
    for body in scopes:
        for node in body:
            if not isinstance(node, ast.FunctionDef) or (node.name.startswith('_') and node.name != '__init__'):
                continue
            args = [arg for arg in node.args.posonlyargs + node.args.args + node.args.kwonlyargs if arg.arg not in ('self', 'cls')]
            if node.returns is None or any(arg.annotation is None for arg in args):
                missing.append(node.name)
    assert not missing
