"""Safe arithmetic: a small recursive-descent parser of numbers, + - * / // % ** and
parentheses, evaluated as it parses (never `eval`, nor Python's own parser).

The grammar is Python's for these operators (`-2 ** 2` is -4, `2 ** 3 ** 2` is 512), and so
are the results (int or float). It used to be `ast.parse` and a whitelist of nodes: the
parser builds a whole syntax tree in a memory arena for a handful of tokens, which cost a
builtin-agent message about 5% of its CPU under gunicorn (bench/README.md "Agent service").
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable

MAX_EXPRESSION_CHARS = 200
MAX_EXPONENT = 1000
MAX_MAGNITUDE = 10**100
MAX_NESTING = 50

_BINARY: dict[str, Callable[[float, float], float]] = {
    "+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
    "//": operator.floordiv, "%": operator.mod, "**": operator.pow,
}
_UNARY: dict[str, Callable[[float], float]] = {"+": operator.pos, "-": operator.neg}
_OPERATORS = "-+*/%^x\u00d7\u00f7"  # x, multiplication sign and division sign too
# A run of characters that can form an arithmetic expression.
_CANDIDATE = re.compile(rf"[{re.escape(_OPERATORS)}().\d\s]+")
# "x" as multiplication: between operands.
_TIMES_X = re.compile(r"(?<=[\d)\s])x(?=[\d(\s])")
# A binary operation inside it: operand, operator, operand.
_BINARY_OPERATION = re.compile(rf"[\d)]\s*(?:\*\*|//|[{re.escape(_OPERATORS)}])\s*[-+(.\d]")
# One token: a number (int, or float with a point) or an operator or parenthesis.
_TOKEN = re.compile(r"\s*(?:(\d+\.?\d*|\.\d+)|(\*\*|//|[-+*/%()]))")
_MALFORMED = "that is not a well-formed arithmetic expression"


class CalculationError(ValueError):
    """The expression is not plain arithmetic or cannot be computed safely."""


def _tokens(text: str) -> list[str | float]:
    """Numbers (int or float) and operator strings; CalculationError on anything else."""
    tokens: list[str | float] = []
    position, end = 0, len(text.rstrip())
    while position < end:
        match = _TOKEN.match(text, position)
        if match is None:
            raise CalculationError("only numbers, + - * / // % ^ and parentheses are supported")
        number, symbol = match.groups()
        if number is None:
            tokens.append(symbol)
        else:
            tokens.append(float(number) if "." in number else int(number))
        position = match.end()
    return tokens


def _apply(symbol: str, left: float, right: float) -> float:
    if symbol == "**" and abs(right) > MAX_EXPONENT:
        raise CalculationError(f"exponent {right} is too large (limit {MAX_EXPONENT})")
    try:
        result = _BINARY[symbol](left, right)
    except ZeroDivisionError as exc:
        raise CalculationError("division by zero") from exc
    except OverflowError as exc:
        raise CalculationError("the result is too large") from exc
    if isinstance(result, complex):
        raise CalculationError("the result is not a real number")
    if abs(result) > MAX_MAGNITUDE:
        raise CalculationError("the result is too large")
    return result


class _Parser:
    """Evaluates the tokens by this grammar:

        expression := term (("+" | "-") term)*
        term       := factor (("*" | "/" | "//" | "%") factor)*
        factor     := ("+" | "-") factor | power
        power      := atom ("**" factor)?
        atom       := number | "(" expression ")"
    """

    def __init__(self, tokens: list[str | float]) -> None:
        self.tokens = tokens
        self.position = 0
        self.depth = 0

    def _peek(self) -> str | float | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def _take(self) -> str | float | None:
        token = self._peek()
        self.position += 1
        return token

    def parse(self) -> float:
        value = self.expression()
        if self.position != len(self.tokens):
            raise CalculationError(_MALFORMED)
        return value

    def expression(self) -> float:
        value = self.term()
        while self._peek() in ("+", "-"):
            symbol = self._take()
            value = _apply(symbol, value, self.term())  # type: ignore[arg-type]
        return value

    def term(self) -> float:
        value = self.factor()
        while self._peek() in ("*", "/", "//", "%"):
            symbol = self._take()
            value = _apply(symbol, value, self.factor())  # type: ignore[arg-type]
        return value

    def factor(self) -> float:
        if self._peek() in ("+", "-"):
            symbol = self._take()
            return _UNARY[symbol](self.factor())  # type: ignore[index]
        return self.power()

    def power(self) -> float:
        base = self.atom()
        if self._peek() == "**":
            self._take()
            return _apply("**", base, self.factor())
        return base

    def atom(self) -> float:
        token = self._take()
        if token == "(":
            self.depth += 1
            if self.depth > MAX_NESTING:
                raise CalculationError(f"parentheses nest deeper than {MAX_NESTING}")
            value = self.expression()
            if self._take() != ")":
                raise CalculationError(_MALFORMED)
            self.depth -= 1
            return value
        if isinstance(token, (int, float)):
            return token
        raise CalculationError(_MALFORMED)


def calculate(expression: str) -> float:
    """Value of an arithmetic expression such as `2 + 3 * (4 - 1)` or `2^10`."""
    text = expression.strip().replace("^", "**").replace("\u00d7", "*").replace("\u00f7", "/")
    text = _TIMES_X.sub("*", text)
    if not text or len(text) > MAX_EXPRESSION_CHARS:
        raise CalculationError(f"expressions must be 1..{MAX_EXPRESSION_CHARS} characters")
    return _Parser(_tokens(text)).parse()


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
