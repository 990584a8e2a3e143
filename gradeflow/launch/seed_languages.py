"""The demo course's assignments in C, C++, Java and JavaScript: in each, Sum (I/O cases: the program reads the
input and prints) and FizzBuzz (function tests: the instructor's driver calls the student's function and prints
what it returns). Each reference solution passes; the language's starter does not."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class LanguageSeed:
    slug: str
    title: str
    language: str
    handout: str
    reference_solution: str
    io_cases: list[dict[str, Any]] = field(default_factory=list)
    driver: str = ""  # test_code: for function tests
    function_tests: list[dict[str, Any]] = field(default_factory=list)
    points: int = 100


def _fizzbuzz(n: int) -> str:
    words = []
    for i in range(1, n + 1):
        word = ("Fizz" if i % 3 == 0 else "") + ("Buzz" if i % 5 == 0 else "")
        words.append(word or str(i))
    return "".join(f"{w}\n" for w in words)


SUM_CASES: list[dict[str, Any]] = [
    {"stdin": "1 2 3\n", "stdout": "6\n"},
    {"stdin": "10\n-4\n7 7\n", "stdout": "20\n"},
    {"stdin": "", "stdout": "0\n"},
    {"stdin": "2000000000 2000000000 2000000000\n", "stdout": "6000000000\n", "hidden": True},
]
FIZZBUZZ_TESTS: list[dict[str, Any]] = [
    {"name": "first_five", "stdin": "5\n", "stdout": _fizzbuzz(5)},
    {"name": "up_to_fifteen", "stdin": "15\n", "stdout": _fizzbuzz(15)},
    {"name": "none", "stdin": "0\n", "stdout": ""},
    {"name": "hidden_hundred", "stdin": "100\n", "stdout": _fizzbuzz(100), "hidden": True},
]


NO_MAIN = "Your file needs no `main` (one you keep for your own testing is ignored by the tests)."


def _sum_handout(language: str, reading: str) -> str:
    return (
        f"# Sum in {language}\n\nRead whole numbers from standard input, separated by spaces or new lines, until "
        "the input ends, and print their sum on one line. No numbers: print `0`. The sum may not fit in 32 "
        f"bits.\n\n{reading}\n\n```\ninput:  1 2 3\noutput: 6\n```\n"
    )


def _fizzbuzz_handout(language: str, signature: str, returns: str, note: str = NO_MAIN) -> str:
    return (
        f"# FizzBuzz in {language}\n\nWrite the function\n\n```\n{signature}\n```\n\nthat {returns} The tests "
        "call it for 1 to n and print what it returns, one line each: `Fizz` for multiples of 3, `Buzz` for "
        f"multiples of 5, `FizzBuzz` for multiples of both, otherwise the number itself.\n\n{note}\n"
    )


C_SUM = """#include <stdio.h>

int main(void) {
    long long total = 0, x;
    while (scanf("%lld", &x) == 1) {
        total += x;
    }
    printf("%lld\\n", total);
    return 0;
}
"""
C_DRIVER = """#include <stdio.h>

const char *fizzbuzz(int i);

int main(void) {
    int n;
    if (scanf("%d", &n) != 1) return 1;
    for (int i = 1; i <= n; i++) {
        const char *word = fizzbuzz(i);
        if (word) puts(word);
        else printf("%d\\n", i);
    }
    return 0;
}
"""
C_FIZZBUZZ = """#include <stddef.h>

const char *fizzbuzz(int i) {
    if (i % 15 == 0) return "FizzBuzz";
    if (i % 3 == 0) return "Fizz";
    if (i % 5 == 0) return "Buzz";
    return NULL;
}
"""
CPP_SUM = """#include <iostream>

int main() {
    long long total = 0, x;
    while (std::cin >> x) {
        total += x;
    }
    std::cout << total << "\\n";
    return 0;
}
"""
CPP_DRIVER = """#include <iostream>
#include <string>

std::string fizzbuzz(int i);

int main() {
    int n;
    if (!(std::cin >> n)) return 1;
    for (int i = 1; i <= n; i++) {
        std::cout << fizzbuzz(i) << "\\n";
    }
    return 0;
}
"""
CPP_FIZZBUZZ = """#include <string>

std::string fizzbuzz(int i) {
    if (i % 15 == 0) return "FizzBuzz";
    if (i % 3 == 0) return "Fizz";
    if (i % 5 == 0) return "Buzz";
    return std::to_string(i);
}
"""
JAVA_SUM = """import java.util.Scanner;

public class Main {
    public static void main(String[] args) {
        Scanner in = new Scanner(System.in);
        long total = 0;
        while (in.hasNextLong()) {
            total += in.nextLong();
        }
        System.out.println(total);
    }
}
"""
JAVA_DRIVER = """import java.util.Scanner;

public class Driver {
    public static void main(String[] args) {
        int n = new Scanner(System.in).nextInt();
        StringBuilder out = new StringBuilder();
        for (int i = 1; i <= n; i++) {
            out.append(Main.fizzbuzz(i)).append('\\n');
        }
        System.out.print(out);
    }
}
"""
JAVA_FIZZBUZZ = """public class Main {
    public static String fizzbuzz(int i) {
        if (i % 15 == 0) return "FizzBuzz";
        if (i % 3 == 0) return "Fizz";
        if (i % 5 == 0) return "Buzz";
        return Integer.toString(i);
    }
}
"""
JS_SUM = """const text = require('fs').readFileSync(0, 'utf8');
let total = 0n;
for (const word of text.split(/\\s+/)) {
    if (word) total += BigInt(word);
}
console.log(total.toString());
"""
JS_DRIVER = """const { fizzbuzz } = require('./solution.js');

const n = Number(require('fs').readFileSync(0, 'utf8').trim());
const lines = [];
for (let i = 1; i <= n; i++) lines.push(String(fizzbuzz(i)));
if (lines.length) console.log(lines.join('\\n'));
"""
JS_FIZZBUZZ = """function fizzbuzz(i) {
    if (i % 15 === 0) return 'FizzBuzz';
    if (i % 3 === 0) return 'Fizz';
    if (i % 5 === 0) return 'Buzz';
    return String(i);
}

module.exports = { fizzbuzz };
"""

LANGUAGE_COURSE: list[LanguageSeed] = [
    LanguageSeed(
        "sum-c",
        "Sum in C",
        "c",
        _sum_handout(
            "C", "Hint: `scanf` returns how many numbers it read; `long long` holds the sum."
        ),
        C_SUM,
        io_cases=SUM_CASES,
    ),
    LanguageSeed(
        "fizzbuzz-c",
        "FizzBuzz in C",
        "c",
        _fizzbuzz_handout(
            "C",
            "const char *fizzbuzz(int i);",
            'returns `"Fizz"`, `"Buzz"` or `"FizzBuzz"`, or `NULL` for a plain number (the tests print the '
            "number then).",
        ),
        C_FIZZBUZZ,
        driver=C_DRIVER,
        function_tests=FIZZBUZZ_TESTS,
    ),
    LanguageSeed(
        "sum-cpp",
        "Sum in C++",
        "cpp",
        _sum_handout("C++", "Hint: `while (std::cin >> x)` reads until the input ends."),
        CPP_SUM,
        io_cases=SUM_CASES,
    ),
    LanguageSeed(
        "fizzbuzz-cpp",
        "FizzBuzz in C++",
        "cpp",
        _fizzbuzz_handout(
            "C++",
            "std::string fizzbuzz(int i);",
            'returns `"Fizz"`, `"Buzz"`, `"FizzBuzz"` or the number as a string.',
        ),
        CPP_FIZZBUZZ,
        driver=CPP_DRIVER,
        function_tests=FIZZBUZZ_TESTS,
    ),
    LanguageSeed(
        "sum-java",
        "Sum in Java",
        "java",
        _sum_handout(
            "Java", "Your file declares `public class Main`. Hint: `Scanner.hasNextLong()`."
        ),
        JAVA_SUM,
        io_cases=SUM_CASES,
    ),
    LanguageSeed(
        "fizzbuzz-java",
        "FizzBuzz in Java",
        "java",
        _fizzbuzz_handout(
            "Java",
            "public class Main {\n    public static String fizzbuzz(int i) { ... }\n}",
            'returns `"Fizz"`, `"Buzz"`, `"FizzBuzz"` or the number as a string.',
        ),
        JAVA_FIZZBUZZ,
        driver=JAVA_DRIVER,
        function_tests=FIZZBUZZ_TESTS,
    ),
    LanguageSeed(
        "sum-javascript",
        "Sum in JavaScript",
        "javascript",
        _sum_handout(
            "JavaScript",
            "Hint: `require('fs').readFileSync(0, 'utf8')` reads all of standard input; `BigInt` keeps big "
            "sums exact.",
        ),
        JS_SUM,
        io_cases=SUM_CASES,
    ),
    LanguageSeed(
        "fizzbuzz-javascript",
        "FizzBuzz in JavaScript",
        "javascript",
        _fizzbuzz_handout(
            "JavaScript",
            "function fizzbuzz(i)",
            'returns `"Fizz"`, `"Buzz"`, `"FizzBuzz"` or the number as a string.',
            "Export it: `module.exports = { fizzbuzz };` (CommonJS) or `export function fizzbuzz(i)` (an ES "
            "module).",
        ),
        JS_FIZZBUZZ,
        driver=JS_DRIVER,
        function_tests=FIZZBUZZ_TESTS,
    ),
]
