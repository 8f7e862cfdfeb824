"""The builtin agent's tools, in-process (pure functions, no I/O)."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest
from agent.backends import Turn
from agent.backends.builtin import BuiltinBackend
from agent.backends.calculator import CalculationError, calculate, find_expression


@pytest.mark.parametrize("expression, value", [
    ("1 + 2 * 3", 7), ("(1 + 2) * 3", 9), ("2^10", 1024), ("2 ** 8", 256), ("-3 + 5", 2),
    ("7 // 2", 3), ("7 % 4", 3), ("1.5 * 4", 6.0), ("6 x 7", 42), ("9 \u00f7 3", 3),
    ("-2 ** 2", -4), ("2 ** -1", 0.5), ("2 ** 3 ** 2", 512), ("-7 // 2", -4), ("7 % -4", -1),
    (".5 + 1.", 1.5), ("3 - -3", 6), ("((2))", 2),
])
def test_calculator(expression: str, value: float) -> None:
    assert calculate(expression) == value


@pytest.mark.parametrize("expression", [
    "__import__('os').system('true')", "().__class__", "a + 1", "2 ** 100000", "9 ** 9 ** 9",
    "1 / 0", "10 ** 200", "[1, 2]", "1 if 1 else 2", "lambda: 1", "(" * 300 + "1" + ")" * 300,
    "(" * 60 + "1" + ")" * 60, "1 2", "()", "2 (3)", "1..2", "(1", "1)", "1 +", "(-8) ** 0.5",
    "1e5", "1_000",
])
def test_calculator_refuses_anything_but_bounded_arithmetic(expression: str) -> None:
    with pytest.raises(CalculationError):
        calculate(expression)


def _random_expression(rng: random.Random, depth: int = 0) -> str:
    """Arithmetic in Python's syntax; exponents are small literals (so eval stays quick)."""
    if depth > 3 or rng.random() < 0.3:
        return rng.choice(["0", "1", "2", "7", "12", "0.5", "3.25", ".5", "10."])
    kind = rng.random()
    if kind < 0.15:
        return rng.choice("+-") + _random_expression(rng, depth + 1)
    if kind < 0.3:
        return f"({_random_expression(rng, depth + 1)})"
    if kind < 0.4:
        return f"{_random_expression(rng, depth + 1)} ** {rng.choice('0123')}"
    operator = rng.choice(["+", "-", "*", "/", "//", "%"])
    return f"{_random_expression(rng, depth + 1)} {operator} {_random_expression(rng, depth + 1)}"


def test_calculator_agrees_with_python_arithmetic() -> None:
    """The hand-written parser has Python's precedence, associativity and results."""
    rng = random.Random(20261207)
    for _ in range(3000):
        text = _random_expression(rng)
        try:
            expected = eval(text, {"__builtins__": {}})  # generated arithmetic only
        except ZeroDivisionError:
            with pytest.raises(CalculationError, match="division by zero"):
                calculate(text)
            continue
        if isinstance(expected, complex) or abs(expected) > 10**100 or len(text) > 200:
            with pytest.raises(CalculationError):
                calculate(text)
            continue
        actual = calculate(text)
        assert actual == expected and type(actual) is type(expected), text


@pytest.mark.parametrize("text, expression", [
    ("what is 2 + 2?", "2 + 2"), ("compute (3+4)*5 please", "(3+4)*5"),
    ("what is my name?", None), ("I have 3 cats", None), ("born in 1990", None),
])
def test_find_expression(text: str, expression: str | None) -> None:
    assert find_expression(text) == expression


def chat(agent: BuiltinBackend, memory: dict[str, str], text: str) -> str:
    reply = agent.reply(Turn(content=text, memory=dict(memory)))
    memory.update(reply.memory)
    assert reply.prompt_tokens > 0 and reply.completion_tokens > 0
    return reply.content


def test_remembers_facts_within_the_session() -> None:
    agent, memory = BuiltinBackend(), {}
    assert "haven't told me your name" in chat(agent, memory, "what is my name?")
    assert "Ada" in chat(agent, memory, "My name is Ada.")
    assert chat(agent, memory, "what's my name?") == "Your name is Ada."
    assert chat(agent, memory, "who am I?") == "Your name is Ada."
    chat(agent, memory, "my favorite color is teal")
    assert chat(agent, memory, "What is my favourite color?") == "Your favourite color is teal."
    assert chat(agent, {}, "what is my name?") != "Your name is Ada."  # other session


def test_time_is_from_the_clock() -> None:
    fixed = datetime(2030, 5, 17, 8, 30, 0, tzinfo=UTC)
    answer = BuiltinBackend(clock=lambda: fixed).reply(Turn("what time is it?")).content
    assert "08:30:00 UTC" in answer and "2030-05-17T08:30:00Z" in answer


def test_fallback_is_helpful() -> None:
    answer = BuiltinBackend().reply(Turn("sing me a song")).content
    assert "arithmetic" in answer and "time" in answer and "remember" in answer


@pytest.mark.parametrize("text, reads", [
    ("what is my name?", True), ("who am I?", True), ("What's my favourite color?", True),
    ("my name is Ada", False), ("call me Ada", False), ("what is 2 + 2?", False),
    ("what time is it?", False), ("hello", False), ("sing me a song", False),
])
def test_only_recall_reads_the_session(text: str, reads: bool) -> None:
    """Every other tool answers from the message alone (its turn is written in one trip)."""
    agent = BuiltinBackend(clock=lambda: datetime(2030, 5, 17, 8, 30, 0, tzinfo=UTC))
    assert agent.reads_session(text) is reads
    if not reads:  # the memory cannot change the answer
        assert agent.reply(Turn(text, memory={"name": "Zed"})) == agent.reply(Turn(text))
