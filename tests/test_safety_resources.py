"""Resources and templates: every number exact and cited, regions, right resources first, languages."""

import re

import pytest
import yaml

from guide.safety import always_visible, caution_resources, crisis_reply, output_check, pinned_resources, resources_for
from guide.safety.resources import CATEGORIES, RESOURCES_PATH, REGIONS, decline_text
from guide.types import Turn

EXPECTED_NUMBERS = {
    "us_988": "988", "us_911": "911", "us_poison": "1-800-222-1222", "us_samhsa": "1-800-662-4357",
    "us_dv_hotline": "1-800-799-7233", "us_childhelp": "1-800-422-4453",
    "ca_988": "988", "ca_911": "911", "ca_kids_help": "1-800-668-6868", "ca_awhl": "1-866-863-0511",
    "ca_hope": "1-855-242-3310",
    "uk_999": "999", "uk_nhs111": "111", "uk_samaritans": "116 123", "uk_dv_helpline": "0808 2000 247",
    "uk_nspcc": "0808 800 5000", "uk_childline": "0800 1111", "uk_frank": "0300 123 6600",
}
EXPECTED_TEXTS = {"us_crisis_text": ("sms:741741", "HOME"), "us_dv_hotline": ("sms:88788", "START"),
                  "ca_kids_help": ("sms:686868", "CONNECT"), "uk_shout": ("sms:85258", "SHOUT"),
                  "us_veterans": ("sms:838255", None)}


def all_resources():
    for region in REGIONS:
        for cat in (*CATEGORIES, None):
            yield from resources_for(region, cat)
        yield from always_visible(region)


def test_every_number_is_exactly_right():
    seen = {r.id: r for r in all_resources()}
    for rid, number in EXPECTED_NUMBERS.items():
        assert seen[rid].phone == number, rid


@pytest.mark.parametrize("rid", sorted(EXPECTED_TEXTS))
def test_text_lines(rid):
    r = {r.id: r for r in all_resources()}[rid]
    assert (r.sms, r.sms_body) == EXPECTED_TEXTS[rid]


def test_tel_links_dial_the_displayed_number():
    for r in all_resources():
        if r.phone:
            digits = re.sub(r"\D", "", r.phone)
            tel = re.sub(r"\D", "", r.tel or "")
            assert r.tel and r.tel.startswith("tel:")
            assert tel in (digits, "1" + digits), r.id


def test_every_resource_cites_an_https_source():
    data = yaml.safe_load(RESOURCES_PATH.read_text(encoding="utf-8"))
    for region, spec in data["regions"].items():
        for item in spec["resources"]:
            assert item["source"].startswith("https://"), item["id"]
            assert item["line"]["en"], item["id"]


def test_canada_poison_points_to_the_official_list_and_ontario_line_is_marked():
    ca = {r.id: r for r in resources_for("CA", None)}
    assert ca["ca_poison"].phone is None and ca["ca_poison"].url.startswith("https://www.canada.ca/")
    assert "Ontario" in ca["ca_awhl"].name


@pytest.mark.parametrize(("region", "ids"), [
    ("US", ["us_988", "us_911", "us_samhsa"]),
    ("CA", ["ca_988", "ca_911", "ca_substance_use"]),
    ("UK", ["uk_samaritans", "uk_999", "uk_nhs111", "uk_frank"]),
])
def test_always_visible(region, ids):
    assert [r.id for r in always_visible(region)] == ids


def test_gb_is_uk_and_unknown_region_says_what_to_do():
    assert always_visible("gb") == always_visible("UK")
    from guide.errors import ConfigError

    with pytest.raises(ConfigError, match="US, CA, UK"):
        resources_for("FR")


def test_right_resources_first():
    assert resources_for("US", "suicide")[0].id == "us_988"
    assert resources_for("US", "self_harm")[0].id == "us_988"
    assert [r.id for r in resources_for("US", "overdose")][:2] == ["us_911", "us_poison"]
    assert resources_for("US", "abuse")[1].id == "us_dv_hotline"
    assert {r.id for r in resources_for("US", "abuse")} >= {"us_dv_hotline", "us_childhelp"}
    assert resources_for("UK", "suicide")[0].id == "uk_samaritans"
    assert caution_resources("abuse", "US")[0].id == "us_dv_hotline"
    assert caution_resources(None, "US")


def test_suicide_template_names_988():
    reply = crisis_reply("suicide")
    assert "988" in reply.text and "741741" in reply.text
    assert reply.text.index("988") < reply.text.index("911")


def test_overdose_template_puts_911_first_with_what_to_do():
    reply = crisis_reply("overdose")
    numbers = re.findall(r"\b(?:911|988|1-800-\d{3}-\d{4})\b", reply.text)
    assert numbers[0] == "911"
    assert "1-800-222-1222" in reply.text and "naloxone" in reply.text.lower()
    assert reply.resources[0].id == "us_911"


@pytest.mark.parametrize("category", ["medical", "violence"])
def test_immediate_danger_templates_lead_with_911(category):
    assert crisis_reply(category).resources[0].id == "us_911"


def test_abuse_template_has_hotlines():
    text = crisis_reply("abuse").text
    assert "1-800-799-7233" in text and "1-800-422-4453" in text and "START to 88788" in text


@pytest.mark.parametrize("category", [*CATEGORIES, None])
@pytest.mark.parametrize("language", ["en", "es", "fr"])
@pytest.mark.parametrize("region", REGIONS)
def test_every_template_renders_safely(category, language, region):
    reply = crisis_reply(category, language=language, region=region)
    assert reply.text and "{" not in reply.text
    assert reply.resources
    assert output_check(reply.text).ok, output_check(reply.text).problems  # no doses, no methods
    assert not re.search(r"[*_#`]", reply.text)  # Markdown-safe plain text
    emergency = {"US": "911", "CA": "911", "UK": "999"}[region]
    assert emergency in reply.text


def test_spanish_template_for_spanish():
    from guide.safety import SafetyChecker

    v = SafetyChecker().check("quiero morir")
    reply = crisis_reply(v.category, language=v.language)
    assert v.language == "es" and reply.language == "es"
    assert "Estoy aquí" in reply.text and "marca 2" in reply.text


def test_french_template_and_fallback():
    assert crisis_reply("suicide", language="fr").language == "fr"
    assert crisis_reply("suicide", language="de").language == "en"


def test_pinned_resources_follow_the_last_crisis():
    history = [Turn(role="assistant", text="x", route="crisis", crisis=True, crisis_category="overdose")]
    assert pinned_resources(history)[0].id == "us_911"
    assert pinned_resources([Turn(role="user", text="hi")]) == ()


@pytest.mark.parametrize("kind", ["dosing", "illegal", "off_topic", "injection", "empty"])
def test_decline_texts_have_no_doses(kind):
    text = decline_text(kind)
    assert output_check(text).ok
    assert "{" not in text
