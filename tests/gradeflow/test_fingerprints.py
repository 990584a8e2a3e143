"""Fingerprints for similarity reports (pure logic): what normalisation hides, what winnowing guarantees, and that
candidate pairs come from the index, not from all pairs."""

from __future__ import annotations

import random

from gradeflow import fingerprints as fp
from gradeflow.launch.synthetic import disguise, random_program, similarity_corpus
from tests.similarity_samples import ORIGINAL as SAMPLE

# The shared original with a docstring, which a copy turns into a comment
ORIGINAL = SAMPLE.replace(
    "def word_counts(text):\n", 'def word_counts(text):\n    """Count each word."""\n', 1
)


def test_names_literals_comments_and_layout_do_not_change_the_tokens():
    renamed = (
        ORIGINAL.replace("counts", "freq")
        .replace("word", "w")
        .replace("text", "s")
        .replace('"""Count each w."""', "# mine")
        .replace("    ", "  ")
        .replace('".,;:!?"', "'?!'")
    )
    assert [t for t, _ in fp.normalised_tokens(renamed)] == [
        t for t, _ in fp.normalised_tokens(ORIGINAL)
    ]
    assert fp.fingerprint(renamed).hashes == fp.fingerprint(ORIGINAL).hashes


def test_builtins_and_keywords_are_kept_and_docstrings_dropped():
    words = [
        t for t, _ in fp.normalised_tokens('def f(x):\n    """doc"""\n    return len(x) + 1\n')
    ]
    assert words == ["def", "N", "(", "N", ")", ":", "return", "len", "(", "N", ")", "+", "0"]


def test_code_the_tokenizer_refuses_is_read_by_pygments():
    broken = "def f(x:\n    return [x, \n"
    assert [t for t, _ in fp.normalised_tokens(broken)][:4] == ["def", "N", "(", "N"]


def test_winnowing_finds_every_long_shared_run_and_no_short_one():
    rng = random.Random(3)
    a, b = random_program(rng, functions=3), random_program(rng, functions=3)
    shared = random_program(rng, functions=1, size=6)
    tokens = len(fp.normalised_tokens(shared))
    assert tokens >= fp.K + fp.W - 1
    with_shared = fp.compare(
        fp.fingerprint(a + "\n\n" + shared), fp.fingerprint(b + "\n\n" + shared)
    )
    assert with_shared.shared >= 1 and with_shared.fragments
    fragment = with_shared.fragments[0]
    first_line = len((a + "\n\n").splitlines()) + 1
    assert fragment.a_lines[0] >= first_line, "the fragment is where the shared code is"
    tiny = "x = y + 1\n"  # fewer than K tokens: everybody's
    assert len(fp.normalised_tokens(tiny)) < fp.K
    assert fp.compare(fp.fingerprint(tiny), fp.fingerprint(tiny)).shared == 0


def test_disguised_copies_outrank_independent_programs():
    codes, planted = similarity_corpus(120, 8, seed=11)
    prints = [fp.fingerprint(c) for c in codes]
    sets = {str(i): p.as_set() for i, p in enumerate(prints)}
    candidates = fp.candidate_pairs(sets)
    assert len(candidates) < 120 * 119 / 2, "the index skips pairs with nothing in common"
    scores = {
        tuple(sorted((int(a), int(b)))): fp.compare(prints[int(a)], prints[int(b)]).similarity
        for a, b in candidates
    }
    copied = [scores[p] for p in planted]
    independent = [s for pair, s in scores.items() if pair not in planted]
    assert min(copied) > 0.7 and max(independent) < 0.3, (min(copied), max(independent))


def test_a_copy_with_reordered_functions_and_a_dead_one_shares_most_fingerprints():
    rng = random.Random(5)
    original = random_program(rng)
    copy = disguise(original, rng)
    assert "unused_helper" in copy and original.split("(")[0] not in copy
    result = fp.compare(fp.fingerprint(original), fp.fingerprint(copy))
    assert result.share_a > 0.85 and result.similarity > 0.8
    assert result.longest_lines >= 5


def test_ignored_fingerprints_do_not_count():
    starter = random_program(random.Random(9), functions=2)
    a = starter + "\n\n" + random_program(random.Random(1), functions=2)
    b = starter + "\n\n" + random_program(random.Random(2), functions=2)
    ignore = fp.fingerprint(starter).as_set()
    assert fp.compare(fp.fingerprint(a), fp.fingerprint(b)).similarity > 0.3
    assert fp.compare(fp.fingerprint(a), fp.fingerprint(b), ignore).similarity < 0.15


def test_what_most_codes_share_is_common():
    sets = [{1, 2, i + 100} for i in range(20)]
    assert fp.common_fingerprints(sets, 20) == {1, 2}
    assert fp.common_fingerprints(sets[:5], 5) == set(), "too few codes to tell"
