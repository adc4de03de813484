"""Layer 2 on its own (lexicon-only checker): categories, negation, idioms, past tense, hypotheticals, languages."""

import pytest

from guide.errors import ConfigError
from guide.safety import SafetyChecker
from guide.safety.lexicon import Lexicon, default_lexicon


@pytest.fixture(scope="module")
def checker():
    return SafetyChecker()


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("I want to kill myself", "suicide"),
        ("gonna unalive myself tonight", "suicide"),
        ("quiero morir", "suicide"),
        ("je veux mourir", "suicide"),
        ("I'm cutting myself right now", "self_harm"),
        ("my friend took too many pills and isn't breathing", "overdose"),
        ("my son overdosed", "overdose"),
        ("I think I have the DTs", "medical"),
        ("I'm going to stab my roommate", "violence"),
        ("he said he'd hurt me if I leave", "abuse"),
        ("My husband hits me", "abuse"),
    ],
)
def test_crisis_statements(checker, text, category):
    v = checker.check(text)
    assert (v.route, v.category) == ("crisis", category)


@pytest.mark.parametrize(
    "text",
    [
        "This traffic is killing me",
        "I'm dying to know what happens at an open meeting",
        "You're killing it at the meetings",
        "My mom is going to kill me when she finds out",
        "I'm overdosing on coffee today lol",
        "I need to cut back on caffeine",
        "Me muero de ganas de ir a mi primera reunión",
    ],
)
def test_idioms_are_not_crises(checker, text):
    assert checker.check(text).route == "ok"


@pytest.mark.parametrize(
    "text",
    [
        "I'm not suicidal, just curious about SMART",
        "I don't want to kill myself, I just want to stop drinking",
        "I would never hurt myself",
        "no quiero morir, solo quiero dejar de beber",
        "je ne veux pas mourir",
    ],
)
def test_negations_are_not_crises(checker, text):
    v = checker.check(text)
    assert v.route == "ok"
    assert any("negated" in r for r in v.reasons)


@pytest.mark.parametrize(
    "text",
    [
        "I'm not safe at home",  # the pattern carries its own "not"
        "She won't wake up after using",
        "I don't want to live anymore",
        "I don't know why but I want to die",  # a clause break ends the negation's reach
    ],
)
def test_own_negation_and_clause_breaks_still_flag(checker, text):
    assert checker.check(text).route == "crisis"


@pytest.mark.parametrize(
    ("text", "note"),
    [
        ("I attempted suicide three years ago and want to find NA", "past"),
        ("When I was 16 I tried to kill myself. I'm 30 now", "past"),
        ("What should I do if my friend overdoses?", "hypothetical"),
        ("My brother died by suicide last year", "grief"),
    ],
)
def test_past_hypothetical_and_grief_become_caution(checker, text, note):
    v = checker.check(text)
    assert v.route == "caution"


def test_recent_events_stay_crises(checker):
    assert checker.check("I tried to kill myself last night").route == "crisis"
    assert checker.check("my partner choked me last night and I'm scared to go home").route == "crisis"


@pytest.mark.parametrize("text", ["What is 988?", "Does the suicide hotline call the police?", "Where can I get naloxone?"])
def test_questions_about_services_are_ok(checker, text):
    assert checker.check(text).route == "ok"


def test_embedded_crisis_in_a_longer_message(checker):
    text = ("I've been going to AA for a month and my sponsor is great. The meetings are on Tuesdays. "
            "Honestly I keep thinking I should just kill myself.")
    assert checker.check(text).route == "crisis"


def test_scan_explains_itself():
    scan = default_lexicon().scan("this traffic is killing me but I'm not suicidal")
    assert scan.stripped == ("this traffic is killing me",)  # the idiom was removed
    assert scan.best("crisis") is None and scan.best("caution") is None
    assert {(f.category, f.level, f.note) for f in scan.suppressed} >= {("suicide", "crisis", "negated")}


def test_bad_lexicon_file_names_the_entry(tmp_path):
    with pytest.raises(ConfigError, match=r"suicide\.crisis\[0\]"):
        Lexicon({"categories": {"suicide": {"crisis": ["(unclosed"]}}, "past": {"cues": "x", "recent": "y", "death": "z"},
                 "hypothetical": {"cues": "x", "present": "y"}})
    with pytest.raises(ConfigError, match="unknown macro"):
        Lexicon({"categories": {"suicide": {"crisis": ["{NOPE}"]}}, "past": {"cues": "x", "recent": "y", "death": "z"},
                 "hypothetical": {"cues": "x", "present": "y"}})


def test_custom_lexicon_path(tmp_path):
    path = tmp_path / "lex.yaml"
    path.write_text(
        "past: {cues: 'zzz', recent: 'zzz', death: 'zzz'}\nhypothetical: {cues: 'zzz', present: 'zzz'}\n"
        "categories:\n  suicide:\n    crisis: ['\\bbanana\\b']\n", encoding="utf-8")
    checker = SafetyChecker(lexicon_path=path)
    assert checker.check("banana").route == "crisis"
    assert checker.check("I want to kill myself").route == "ok"  # only the custom lexicon is used


@pytest.mark.parametrize(
    ("text", "route"),
    [
        ("What are the DTs?", "caution"),  # asks what the term means
        ("what is delirium tremens", "caution"),
        ("what is an overdose", "caution"),
        ("what does DTs stand for", "caution"),
        ("I'm in the DTs right now", "crisis"),
        ("What are the DTs? My dad has them", "crisis"),  # someone is said to have it
        ("what are the DTs, is it happening right now?", "crisis"),
        ("my dad is shaking and seeing things after he stopped drinking", "crisis"),
    ],
)
def test_what_is_questions_about_a_crisis_term_are_caution(checker, text, route):
    assert checker.check(text).route == route


@pytest.mark.parametrize(
    ("text", "route"),
    [
        ("my husband gets grumpy when he drinks but he's never been physical", "ok"),
        ("he gets moody after a few beers but he's never laid a hand on me", "ok"),
        ("my dad gets loud when he drinks but he's never been rough with us", "ok"),
        ("he gets physical when he drinks", "caution"),
        ("he laid a hand on me last night", "crisis"),
    ],
)
def test_never_been_physical_is_a_negation(checker, text, route):
    assert checker.check(text).route == route
