"""Code for similarity tests: a starter file, an original solution, a copy of it with every name renamed and its
comments and layout changed, independent solutions of the same assignment, and two attempts that share nothing
but the starter. Shared by the fingerprint unit tests, the integration, contract and browser tests and the
recorded histories."""

STARTER = '''import sys


def read_lines(path):
    """Read a text file: its lines, without their line breaks."""
    with open(path) as handle:
        return [line.rstrip("\\n") for line in handle]


def main():
    for line in read_lines(sys.argv[1]):
        print(line_report(line))
'''

ORIGINAL = """

def word_counts(text):
    counts = {}
    for word in text.lower().split():
        word = word.strip(".,;:!?")
        if not word:
            continue
        counts[word] = counts.get(word, 0) + 1
    return counts


def top_words(text, n=3):
    counts = word_counts(text)
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return [w for w, _ in ranked[:n]]


def longest_word(text):
    best = ""
    for word in text.split():
        if len(word) > len(best):
            best = word
    return best


def line_report(line):
    words = line.split()
    if not words:
        return "empty"
    return f"{len(words)} words, top {top_words(line)}, longest {longest_word(line)}"
"""

RENAMED = """

# word statistics, written by me
def word_counts(s):
    freq = {}
    for tok in s.lower().split():
        tok = tok.strip(".,;:!?")   # punctuation off
        if not tok:
            continue
        freq[tok] = freq.get(tok, 0) + 1
    return freq

def top_words(s, k=3):
    freq = word_counts(s)
    order = sorted(freq.items(), key=lambda item: (-item[1], item[0]))
    return [t for t, _ in order[:k]]

def longest_word(s):
    result = ''
    for tok in s.split():
        if len(tok) > len(result):
            result = tok
    return result

def line_report(row):
    toks = row.split()
    if not toks:
        return 'empty'
    return f'{len(toks)} words, top {top_words(row)}, longest {longest_word(row)}'
"""

INDEPENDENT = [
    """
from collections import Counter


def words_of(text):
    return [w.strip(".,;:!?") for w in text.lower().split() if w.strip(".,;:!?")]


def line_report(line):
    words = words_of(line)
    if len(words) == 0:
        return "empty"
    common = [w for w, _ in sorted(Counter(words).items(), key=lambda p: (-p[1], p[0]))][:3]
    return "%d words, top %s, longest %s" % (len(line.split()), common, max(line.split(), key=len))
""",
    """

def line_report(line):
    parts = line.split()
    total = len(parts)
    if total == 0:
        return "empty"
    seen = {}
    longest = parts[0]
    for raw in parts:
        if len(raw) > len(longest):
            longest = raw
        cleaned = raw.lower().strip(".,;:!?")
        if cleaned:
            seen.setdefault(cleaned, 0)
            seen[cleaned] += 1
    best = []
    while seen and len(best) < 3:
        top = min(seen, key=lambda w: (-seen[w], w))
        best.append(top)
        del seen[top]
    return str(total) + " words, top " + str(best) + ", longest " + longest
""",
    """
import re


def line_report(line):
    tokens = re.findall(r"[A-Za-z']+", line)
    if not line.split():
        return "empty"
    tally = {}
    for t in map(str.lower, tokens):
        tally[t] = 1 + tally[t] if t in tally else 1
    ranking = sorted(tally, key=lambda t: (-tally[t], t))
    longest = sorted(line.split(), key=lambda t: -len(t))[0]
    return "{} words, top {}, longest {}".format(len(line.split()), ranking[:3], longest)
""",
]

STARTER_ONLY = [
    "\n\ndef line_report(line):\n    return str(len(line))\n",
    "\n\ndef line_report(text):\n    n = text.count(' ')\n    return 'words: ' + str(n + 1)\n",
]
