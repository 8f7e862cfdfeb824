"""Safe arithmetic: parse with `ast` and evaluate a whitelist of nodes (never `eval`)."""

from __future__ import annotations

import ast
import operator
import re
from collections.abc import Callable

MAX_EXPRESSION_CHARS = 200
MAX_EXPONENT = 1000
MAX_MAGNITUDE = 10**100

_BINARY: dict[type[ast.operator], Callable[[float, float], float]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[float], float]] = {
    ast.UAdd: operator.pos, ast.USub: operator.neg,
}
_OPERATORS = "-+*/%^x\u00d7\u00f7"  # x, multiplication sign and division sign too
# A run of characters that can form an arithmetic expression.
_CANDIDATE = re.compile(rf"[{re.escape(_OPERATORS)}().\d\s]+")
# "x" as multiplication: between operands.
_TIMES_X = re.compile(r"(?<=[\d)\s])x(?=[\d(\s])")
# A binary operation inside it: operand, operator, operand.
_BINARY_OPERATION = re.compile(rf"[\d)]\s*(?:\*\*|//|[{re.escape(_OPERATORS)}])\s*[-+(.\d]")


class CalculationError(ValueError):
    """The expression is not plain arithmetic or cannot be computed safely."""


def _evaluate(node: ast.AST) -> float:
    if isinstance(node, ast.Expression):
        return _evaluate(node.body)
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return node.value
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_evaluate(node.operand))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _evaluate(node.left), _evaluate(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > MAX_EXPONENT:
            raise CalculationError(f"exponent {right} is too large (limit {MAX_EXPONENT})")
        try:
            result = _BINARY[type(node.op)](left, right)
        except ZeroDivisionError as exc:
            raise CalculationError("division by zero") from exc
        except OverflowError as exc:
            raise CalculationError("the result is too large") from exc
        if isinstance(result, complex):
            raise CalculationError("the result is not a real number")
        if abs(result) > MAX_MAGNITUDE:
            raise CalculationError("the result is too large")
        return result
    raise CalculationError("only numbers, + - * / // % ^ and parentheses are supported")


def calculate(expression: str) -> float:
    """Value of an arithmetic expression such as `2 + 3 * (4 - 1)` or `2^10`."""
    text = expression.strip().replace("^", "**").replace("\u00d7", "*").replace("\u00f7", "/")
    text = _TIMES_X.sub("*", text)
    if not text or len(text) > MAX_EXPRESSION_CHARS:
        raise CalculationError(f"expressions must be 1..{MAX_EXPRESSION_CHARS} characters")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise CalculationError("that is not a well-formed arithmetic expression") from exc
    return _evaluate(tree)


def find_expression(text: str) -> str | None:
    """The longest arithmetic-looking part of `text` with a digit and an operator, if any."""
    best = None
    for match in _CANDIDATE.finditer(text):
        candidate = match.group().strip().rstrip(".")
        if _BINARY_OPERATION.search(candidate) and (best is None or len(candidate) > len(best)):
            best = candidate
    return best


def format_number(value: float) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, float):
        return f"{value:.10g}"
    return str(value)
