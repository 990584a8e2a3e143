"""C++ (C++17) with g++: as C, with the C++ standard library."""

from __future__ import annotations

from gradeflow.languages.c import C


class Cpp(C):
    name = "cpp"
    title = "C++ (C++17, g++)"
    lexer = "cpp"
    source_name = "solution.cpp"
    driver_name = "driver.cpp"
    compiler = "g++"
    standard = "-std=c++17"
    libraries = ()
    install_hint = "Debian: apt-get install g++"
    memory_markers = ("std::bad_alloc", "Cannot allocate memory", "out of memory")
    starter = (
        "#include <iostream>\n\nint main() {\n    long long a, b;\n"
        '    if (std::cin >> a >> b) {\n        std::cout << a + b << "\\n";\n    }\n'
        "    return 0;\n}\n"
    )
    probe_source = starter
