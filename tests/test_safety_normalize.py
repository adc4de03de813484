"""Layer 1 on its own: what people type becomes text the lexicon can match."""

import pytest

from guide.safety.normalize import Normalizer, basic_normalize, damerau_levenshtein, normalize


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("I WANT TO DIE", "i want to die"),
        ("I\u2019m done", "i am done"),
        ("Ｉ ｗａｎｔ", "i want"),  # NFKC folds full-width letters
        ("k1ll mys3lf", "kill myself"),
        ("$uicide", "suicide"),
        ("diiiiie", "diie"),  # 3+ repeats squeezed to 2 here; the lexicon normaliser finishes the job
        ("don't wanna live", "do not want to live"),
        ("gonna end it", "going to end it"),
        ("quiero morír", "quiero morir"),
        ("su\u200bicide", "suicide"),  # zero-width characters removed
    ],
)
def test_basic_normalize(raw, expected):
    assert basic_normalize(raw) == expected


@pytest.mark.parametrize("raw", ["call 988 or 1-800-662-4357", "I have 30 days", "take 2nd step", "the 90s", "20mg"])
def test_numbers_are_not_leetspeak(raw):
    assert basic_normalize(raw) == raw.lower()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("i want to kil myself", "i want to kill myself"),
        ("kill myslef", "kill myself"),
        ("thinking about sucide", "thinking about suicide"),
        ("i feel suicidel", "i feel suicidal"),
        ("i want to dieeee", "i want to die"),
        ("kms", "kill myself"),
        ("thinking about sewerslide", "thinking about suicide"),
        ("i think i od'd", "i think i overdosed"),
        ("she's unresponsvie", "she is unresponsive"),
        ("having siezures from withdrawl", "having seizures from withdrawal"),
    ],
)
def test_lexicon_normaliser_repairs_slang_and_typos(raw, expected):
    assert normalize(raw) == expected


@pytest.mark.parametrize("word", ["proud of myself", "the bills", "overdone steak", "still here", "i will go", "olive oil"])
def test_fuzzy_repair_never_invents_crisis_words(word):
    assert normalize(word) == basic_normalize(word)


def test_fuzzy_repair_is_bounded_to_targets():
    n = Normalizer(fuzzy_targets=["overdose"], protected=["overdone"])
    assert n("overdoes") == "overdose"  # transposition
    assert n("overdone") == "overdone"  # protected real word
    assert n("overture") == "overture"  # too far


def test_damerau_levenshtein():
    assert damerau_levenshtein("myslef", "myself") == 1
    assert damerau_levenshtein("abc", "abc") == 0
    assert damerau_levenshtein("kitten", "sitting", limit=5) == 3
    assert damerau_levenshtein("a", "abcdef", limit=2) == 3  # gives up past the limit
