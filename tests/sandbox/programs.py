"""Programs in every compiled or non-Python language, for the language tests: each reads two integers and prints
their sum (right or wrong), or fails in one way a student's program does. The driver cases call `add(a, b)`."""

from __future__ import annotations

import pytest

from gradeflow import languages


def needs(language: str) -> None:
    """Skip, naming what is missing, where this machine lacks the language's toolchain."""
    missing = languages.missing().get(language)
    if missing:
        pytest.skip(f"{language}: {missing}")


SUM_CASES = [
    {"stdin": "2 3\n", "stdout": "5\n"},
    {"stdin": "-1 1\n", "stdout": "0\n", "points": 2},
]
FUNCTION_TESTS = [
    {"name": "small", "stdin": "2 3\n", "stdout": "5\n"},
    {"name": "negative", "stdin": "-1 1\n", "stdout": "0\n"},
    {
        "name": "hidden_large",
        "stdin": "1000000000 1000000000\n",
        "stdout": "2000000000\n",
        "hidden": True,
    },
]

PROGRAMS: dict[str, dict[str, str]] = {
    "c": {
        "right": '#include <stdio.h>\nint main(void) {\n    long a, b;\n    if (scanf("%ld %ld", &a, &b) == 2)\n'
        '        printf("%ld\\n", a + b);\n    return 0;\n}\n',
        "wrong": '#include <stdio.h>\nint main(void) {\n    long a, b;\n    scanf("%ld %ld", &a, &b);\n'
        '    printf("%ld\\n", a * b);\n    return 0;\n}\n',
        "compile_error": '#include <stdio.h>\nint main(void) {\n    printf("%d\\n", total);\n    return 0;\n}\n',
        "time_limit": "int main(void) {\n    volatile unsigned long i = 0;\n    for (;;) i++;\n}\n",
        "memory_limit": "#include <stdlib.h>\n#include <string.h>\nint main(void) {\n    for (;;) {\n"
        "        char *p = malloc(1 << 20);\n        memset(p, 1, 1 << 20);\n    }\n}\n",
        "segfault": "int main(void) {\n    int *p = 0;\n    *p = 1;\n    return 0;\n}\n",
        "output_limit": '#include <stdio.h>\nint main(void) {\n    for (;;) puts("spam spam spam spam");\n}\n',
        "driver": "#include <stdio.h>\nlong add(long a, long b);\nint main(void) {\n    long a, b;\n"
        '    while (scanf("%ld %ld", &a, &b) == 2) printf("%ld\\n", add(a, b));\n    return 0;\n}\n',
        "function_right": "long add(long a, long b) { return a + b; }\n",
        "function_wrong": "long add(long a, long b) { return a - b; }\n",
    },
    "cpp": {
        "right": "#include <iostream>\nint main() {\n    long long a, b;\n    if (std::cin >> a >> b)"
        ' std::cout << a + b << "\\n";\n}\n',
        "wrong": '#include <iostream>\nint main() {\n    long long a, b;\n    std::cin >> a >> b;\n    std::cout << a - b << "\\n";\n}\n',
        "compile_error": "#include <iostream>\nint main() {\n    std::cout << undefined_total;\n}\n",
        "time_limit": "int main() {\n    volatile unsigned long i = 0;\n    for (;;) i++;\n}\n",
        "memory_limit": "#include <vector>\nint main() {\n    std::vector<long> v;\n    for (;;) v.push_back(1);\n}\n",
        "segfault": "int main() {\n    int *p = nullptr;\n    *p = 1;\n}\n",
        "output_limit": '#include <iostream>\nint main() {\n    for (;;) std::cout << "spam spam spam\\n";\n}\n',
        "driver": "#include <iostream>\nlong add(long a, long b);\nint main() {\n    long a, b;\n"
        '    while (std::cin >> a >> b) std::cout << add(a, b) << "\\n";\n}\n',
        "function_right": "long add(long a, long b) { return a + b; }\n",
        "function_wrong": "long add(long a, long b) { return a * b; }\n",
    },
    "java": {
        "right": "import java.util.Scanner;\n\npublic class Main {\n    public static void main(String[] args) {\n"
        "        Scanner in = new Scanner(System.in);\n        System.out.println(in.nextLong() + in.nextLong());\n"
        "    }\n}\n",
        "wrong": "import java.util.Scanner;\n\npublic class Main {\n    public static void main(String[] args) {\n"
        "        Scanner in = new Scanner(System.in);\n        System.out.println(in.nextLong() * in.nextLong());\n"
        "    }\n}\n",
        "compile_error": "public class Main {\n    public static void main(String[] args) {\n"
        '        int total = "five";\n    }\n}\n',
        "time_limit": "public class Main {\n    public static void main(String[] args) {\n        long i = 0;\n"
        "        while (true) i++;\n    }\n}\n",
        "memory_limit": "import java.util.*;\n\npublic class Main {\n    public static void main(String[] args) {\n"
        "        List<long[]> all = new ArrayList<>();\n        while (true) all.add(new long[1 << 20]);\n    }\n}\n",
        "output_limit": "public class Main {\n    public static void main(String[] args) {\n"
        '        while (true) System.out.println("spam spam spam");\n    }\n}\n',
        "driver": "import java.util.Scanner;\n\npublic class Driver {\n    public static void main(String[] args) {\n"
        "        Scanner in = new Scanner(System.in);\n        while (in.hasNextLong()) {\n"
        "            long a = in.nextLong(), b = in.nextLong();\n            System.out.println(Main.add(a, b));\n"
        "        }\n    }\n}\n",
        "function_right": "public class Main {\n    public static long add(long a, long b) { return a + b; }\n}\n",
        "function_wrong": "public class Main {\n    public static long add(long a, long b) { return a; }\n}\n",
    },
    "javascript": {
        "right": "const [a, b] = require('fs').readFileSync(0, 'utf8').trim().split(/\\s+/).map(Number);\n"
        "console.log(a + b);\n",
        "wrong": "const [a, b] = require('fs').readFileSync(0, 'utf8').trim().split(/\\s+/).map(Number);\n"
        "console.log(a * b);\n",
        "compile_error": "function add(a, b {\n    return a + b;\n}\n",
        "time_limit": "for (;;) {}\n",
        "memory_limit": "const all = [];\nfor (;;) all.push(new Array(1e6).fill(1));\n",
        "output_limit": "for (;;) console.log('spam spam spam');\n",
        "driver": "const { add } = require('./solution.js');\n"
        "for (const line of require('fs').readFileSync(0, 'utf8').trim().split('\\n')) {\n"
        "    const [a, b] = line.split(' ').map(Number);\n    console.log(add(a, b));\n}\n",
        # An ES module: the same driver imports it
        "function_right": "export function add(a, b) {\n    return a + b;\n}\n",
        "function_wrong": "function add(a, b) {\n    return a - b;\n}\nmodule.exports = { add };\n",
    },
}
COMPILED = tuple(PROGRAMS)
