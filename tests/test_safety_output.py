"""The output check on composed answers: no doses, no schedules, no method details."""

import pytest

from guide.safety import output_check


@pytest.mark.parametrize("text", [
    "Take 8 mg of buprenorphine on the first day.",
    "Most people take two pills at night.",
    "Start with 0.5mg and see how you feel.",
    "Use 4 to 8 mg daily.",
    "Reduce your dose by 10% every week.",
    "Take it every 6 hours.",
    "A taper schedule usually lasts a month.",
    "The lethal dose is lower than people think.",
    "People jump off a bridge or use a noose.",
])
def test_flags_doses_schedules_and_methods(text):
    v = output_check(text)
    assert not v.ok and v.problems


@pytest.mark.parametrize("text", [
    "AA has 12 steps and meetings are free.",
    "Call the SAMHSA National Helpline at 1-800-662-4357, any time of day.",
    "Call or text 988. Poison Control is 1-800-222-1222.",
    "Many members have 30 days, 90 days or 1 year of sobriety.",
    "Al-Anon was founded in 1951 and meets once a week in many towns.",
    "Ask a doctor or pharmacist about medication; naloxone is sold at pharmacies.",
])
def test_ordinary_answers_pass(text):
    assert output_check(text).ok, output_check(text).problems
