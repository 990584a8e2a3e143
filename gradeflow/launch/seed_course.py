"""The demo course: the three assignments of the original course design, then seven of rising difficulty.

Each has unittest tests (they import the student's code as `solution`) and a reference solution that passes.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SeedAssignment:
    slug: str
    title: str
    handout: str
    test_code: str
    reference_solution: str
    points: int = 100


COURSE: list[SeedAssignment] = [
    SeedAssignment(
        "hello",
        "Hello",
        '# Hello\n\nWrite a function `hello()` that returns the string `"Hello"`.\n',
        """import unittest
from solution import hello


class TestHello(unittest.TestCase):
    def test_returns_hello(self):
        self.assertEqual(hello(), "Hello")
""",
        'def hello():\n    return "Hello"\n',
    ),
    SeedAssignment(
        "hello-world",
        "Hello world",
        '# Hello world\n\nWrite a function `hello()` that returns the string `"Hello world!"`.\n',
        """import unittest
from solution import hello


class TestHelloWorld(unittest.TestCase):
    def test_returns_hello_world(self):
        self.assertEqual(hello(), "Hello world!")
""",
        'def hello():\n    return "Hello world!"\n',
    ),
    SeedAssignment(
        "sum",
        "Sum",
        "# Sum\n\nWrite a function `sum(a, b)` that returns the sum of the two numbers `a` and `b`.\n",
        """import unittest
import solution


class TestSum(unittest.TestCase):
    def test_two_plus_four(self):
        self.assertEqual(solution.sum(2, 4), 6)

    def test_forty_plus_two(self):
        self.assertEqual(solution.sum(40, 2), 42)
""",
        "def sum(a, b):\n    return a + b\n",
    ),
    SeedAssignment(
        "fizzbuzz",
        "FizzBuzz",
        '# FizzBuzz\n\nWrite `fizzbuzz(n)` returning a list of strings for the numbers 1 to `n`: `"Fizz"` for '
        'multiples of 3, `"Buzz"` for multiples of 5, `"FizzBuzz"` for multiples of both, otherwise the number '
        "itself as a string.\n\n```python\n>>> fizzbuzz(5)\n['1', '2', 'Fizz', '4', 'Buzz']\n```\n",
        """import unittest
from solution import fizzbuzz


class TestFizzBuzz(unittest.TestCase):
    def test_first_five(self):
        self.assertEqual(fizzbuzz(5), ["1", "2", "Fizz", "4", "Buzz"])

    def test_fifteen(self):
        self.assertEqual(fizzbuzz(15)[-1], "FizzBuzz")

    def test_zero(self):
        self.assertEqual(fizzbuzz(0), [])
""",
        """def fizzbuzz(n):
    out = []
    for i in range(1, n + 1):
        word = ("Fizz" if i % 3 == 0 else "") + ("Buzz" if i % 5 == 0 else "")
        out.append(word or str(i))
    return out
""",
    ),
    SeedAssignment(
        "palindrome",
        "Palindromes",
        "# Palindromes\n\nWrite `is_palindrome(text)` that returns `True` when `text` reads the same backwards, "
        "ignoring case, spaces and punctuation.\n\n```python\n>>> is_palindrome('A man, a plan, a canal: Panama')\n"
        "True\n```\n",
        """import unittest
from solution import is_palindrome


class TestPalindrome(unittest.TestCase):
    def test_simple(self):
        self.assertTrue(is_palindrome("racecar"))

    def test_punctuation_and_case(self):
        self.assertTrue(is_palindrome("A man, a plan, a canal: Panama"))

    def test_not_palindrome(self):
        self.assertFalse(is_palindrome("GradeFlow"))

    def test_empty(self):
        self.assertTrue(is_palindrome(""))
""",
        """def is_palindrome(text):
    letters = [c.lower() for c in text if c.isalnum()]
    return letters == letters[::-1]
""",
    ),
    SeedAssignment(
        "word-count",
        "Word count",
        "# Word count\n\nWrite `word_count(text)` returning a dict that maps each word (lower-cased, letters and "
        "apostrophes only) to how often it occurs.\n\n```python\n>>> word_count('The cat and the hat')\n"
        "{'the': 2, 'cat': 1, 'and': 1, 'hat': 1}\n```\n",
        """import unittest
from solution import word_count


class TestWordCount(unittest.TestCase):
    def test_counts(self):
        self.assertEqual(word_count("The cat and the hat"), {"the": 2, "cat": 1, "and": 1, "hat": 1})

    def test_punctuation(self):
        self.assertEqual(word_count("Hi! hi, HI."), {"hi": 3})

    def test_apostrophes(self):
        self.assertEqual(word_count("don't stop"), {"don't": 1, "stop": 1})

    def test_empty(self):
        self.assertEqual(word_count(""), {})
""",
        """import re


def word_count(text):
    counts = {}
    for word in re.findall(r"[a-z']+", text.lower()):
        counts[word] = counts.get(word, 0) + 1
    return counts
""",
    ),
    SeedAssignment(
        "fibonacci",
        "Fast Fibonacci",
        "# Fast Fibonacci\n\nWrite `fib(n)` returning the n-th Fibonacci number (`fib(0) == 0`, `fib(1) == 1`). "
        "It must handle `n = 10000` well within the time limit: the naive recursion will not.\n",
        """import unittest
from solution import fib


class TestFib(unittest.TestCase):
    def test_small(self):
        self.assertEqual([fib(i) for i in range(10)], [0, 1, 1, 2, 3, 5, 8, 13, 21, 34])

    def test_fifty(self):
        self.assertEqual(fib(50), 12586269025)

    def test_large(self):
        self.assertEqual(len(str(fib(10000))), 2090)
""",
        """def fib(n):
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a
""",
    ),
    SeedAssignment(
        "brackets",
        "Balanced brackets",
        "# Balanced brackets\n\nWrite `balanced(text)` that returns `True` when every `(`, `[` and `{` in `text` "
        "is closed by the matching bracket in the right order. Other characters are ignored.\n",
        """import unittest
from solution import balanced


class TestBalanced(unittest.TestCase):
    def test_balanced(self):
        self.assertTrue(balanced("([]{()})"))

    def test_wrong_order(self):
        self.assertFalse(balanced("([)]"))

    def test_unclosed(self):
        self.assertFalse(balanced("(("))

    def test_extra_closer(self):
        self.assertFalse(balanced("())"))

    def test_other_characters(self):
        self.assertTrue(balanced("f(a[1], {b: 2})"))
""",
        """def balanced(text):
    pairs = {")": "(", "]": "[", "}": "{"}
    stack = []
    for c in text:
        if c in "([{":
            stack.append(c)
        elif c in pairs:
            if not stack or stack.pop() != pairs[c]:
                return False
    return not stack
""",
    ),
    SeedAssignment(
        "roman",
        "Roman numerals",
        "# Roman numerals\n\nWrite `to_roman(n)` for 1 <= n <= 3999 and its inverse `from_roman(text)`.\n\n"
        "```python\n>>> to_roman(1994)\n'MCMXCIV'\n>>> from_roman('MCMXCIV')\n1994\n```\n",
        """import unittest
from solution import from_roman, to_roman


class TestRoman(unittest.TestCase):
    def test_to_roman(self):
        self.assertEqual(to_roman(1994), "MCMXCIV")
        self.assertEqual(to_roman(4), "IV")
        self.assertEqual(to_roman(3999), "MMMCMXCIX")

    def test_from_roman(self):
        self.assertEqual(from_roman("MCMXCIV"), 1994)
        self.assertEqual(from_roman("XLII"), 42)

    def test_round_trip(self):
        for n in range(1, 4000):
            self.assertEqual(from_roman(to_roman(n)), n)
""",
        """VALUES = [(1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"),
          (50, "L"), (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")]


def to_roman(n):
    out = []
    for value, letters in VALUES:
        count, n = divmod(n, value)
        out.append(letters * count)
    return "".join(out)


def from_roman(text):
    single = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}
    total = 0
    for i, c in enumerate(text):
        value = single[c]
        if i + 1 < len(text) and single[text[i + 1]] > value:
            total -= value
        else:
            total += value
    return total
""",
    ),
    SeedAssignment(
        "primes",
        "Prime sieve",
        "# Prime sieve\n\nWrite `primes_up_to(n)` returning the list of all primes `<= n`. It must handle "
        "`n = 2_000_000` within the time limit: use the sieve of Eratosthenes.\n",
        """import unittest
from solution import primes_up_to


class TestPrimes(unittest.TestCase):
    def test_small(self):
        self.assertEqual(primes_up_to(20), [2, 3, 5, 7, 11, 13, 17, 19])

    def test_edges(self):
        self.assertEqual(primes_up_to(1), [])
        self.assertEqual(primes_up_to(2), [2])

    def test_large(self):
        primes = primes_up_to(2_000_000)
        self.assertEqual(len(primes), 148933)
        self.assertEqual(primes[-1], 1999993)
""",
        """def primes_up_to(n):
    if n < 2:
        return []
    sieve = bytearray([1]) * (n + 1)
    sieve[0:2] = b"\\x00\\x00"
    for i in range(2, int(n ** 0.5) + 1):
        if sieve[i]:
            sieve[i * i::i] = bytes(len(range(i * i, n + 1, i)))
    return [i for i, flag in enumerate(sieve) if flag]
""",
    ),
]
