"""Crisis resources per region and the fixed reply templates, both read from reviewed YAML files.

Numbers live in `data/resources.yaml` (each cited with a `source:`), wording in `data/templates.yaml`;
this module only selects and fills them, so a reviewer reads data, not code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from guide.errors import ConfigError
from guide.types import CATEGORIES, LANGUAGES, Resource, Turn

DATA_DIR = Path(__file__).resolve().parent / "data"
RESOURCES_PATH = DATA_DIR / "resources.yaml"
TEMPLATES_PATH = DATA_DIR / "templates.yaml"

REGIONS = ("US", "CA", "UK")
_RESOURCE_FIELDS = set(Resource.model_fields)


@dataclass(frozen=True)
class CrisisReply:
    """The fixed, reviewed reply for a crisis turn: template text with the region's resources named in it."""

    text: str
    resources: tuple[Resource, ...]
    category: str | None = None
    language: str = "en"
    region: str = "US"


@dataclass(frozen=True)
class _Region:
    code: str
    resources: dict[str, Resource]
    lines: dict[str, dict[str, str]]
    sources: dict[str, str]
    emergency: str
    helpline: str
    always_visible: tuple[str, ...]
    crisis: dict[str, tuple[str, ...]]
    caution: dict[str, tuple[str, ...]]


def _load_yaml(path: Path) -> Any:
    import yaml

    try:
        with path.open(encoding="utf-8") as fh:
            return yaml.safe_load(fh)
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"Cannot read {path}: {exc}. Restore the file from the repository.") from None


@lru_cache(maxsize=1)
def _regions() -> dict[str, _Region]:
    raw = _load_yaml(RESOURCES_PATH)["regions"]
    regions: dict[str, _Region] = {}
    for code, spec in raw.items():
        resources: dict[str, Resource] = {}
        lines: dict[str, dict[str, str]] = {}
        sources: dict[str, str] = {}
        for item in spec["resources"]:
            fields = {k: (str(v) if k in {"phone", "name"} else v) for k, v in item.items() if k in _RESOURCE_FIELDS}
            resources[item["id"]] = Resource(**fields)
            lines[item["id"]] = dict(item["line"])
            sources[item["id"]] = item["source"]
        regions[code] = _Region(
            code=code,
            resources=resources,
            lines=lines,
            sources=sources,
            emergency=spec["emergency"],
            helpline=spec["helpline"],
            always_visible=tuple(spec["always_visible"]),
            crisis={k: tuple(v) for k, v in spec["crisis"].items()},
            caution={k: tuple(v) for k, v in spec["caution"].items()},
        )
    return regions


@lru_cache(maxsize=1)
def _templates() -> dict[str, Any]:
    return _load_yaml(TEMPLATES_PATH)


def _region(region: str | None) -> _Region:
    code = (region or "US").upper()
    code = "UK" if code == "GB" else code
    regions = _regions()
    if code not in regions:
        raise ConfigError(f"Unknown region {region!r}: use one of {', '.join(REGIONS)} (GUIDE_REGION).")
    return regions[code]


def _pick(region: _Region, ids: Sequence[str]) -> tuple[Resource, ...]:
    return tuple(region.resources[i] for i in ids)


def resources_for(region: str = "US", category: str | None = None) -> tuple[Resource, ...]:
    """Crisis resources for a category, the right ones first; None (unknown / failed closed) gives all of them."""
    r = _region(region)
    key = category if category in r.crisis else "general"
    return _pick(r, r.crisis[key])


def always_visible(region: str = "US") -> tuple[Resource, ...]:
    """What the app header shows on every page (988 / 911 / SAMHSA in the US; regional equivalents elsewhere)."""
    r = _region(region)
    return _pick(r, r.always_visible)


def caution_resources(category: str | None, region: str = "US") -> tuple[Resource, ...]:
    """What to show beside an answer when the check says `caution` (topic touched, no present danger)."""
    r = _region(region)
    key = category if category in r.caution else "general"
    return _pick(r, r.caution[key])


def caution_text(language: str = "en") -> str:
    """The one-line lead-in shown above caution resources."""
    texts = _templates()["caution"]
    return texts.get(language) or texts["en"]


def pinned_resources(history: Sequence[Turn], region: str = "US") -> tuple[Resource, ...]:
    """Once a conversation had a crisis turn, its resources stay attached to every later reply."""
    categories = [t.crisis_category for t in history if t.crisis]
    if not categories:
        return ()
    return resources_for(region, categories[-1])


def _fill(template: str, r: _Region, ids: Sequence[str], language: str) -> str:
    bullet_lines = "\n".join(f"- {r.lines[i].get(language) or r.lines[i]['en']}" for i in ids)
    emergency = r.resources[r.emergency].phone or r.resources[r.emergency].name
    helpline_lines = r.lines[r.helpline]
    return template.format(
        resources=bullet_lines,
        emergency=emergency,
        helpline=helpline_lines.get(language) or helpline_lines["en"],
    )


def crisis_reply(category: str | None, *, language: str = "en", region: str = "US") -> CrisisReply:
    """The fixed crisis reply for a category (None: the general, fail-closed template) in the user's language."""
    r = _region(region)
    key = category if category in r.crisis and category != "general" else "general"
    lang = language if language in LANGUAGES else "en"
    per_lang = _templates()["crisis"][key]
    template = per_lang.get(lang)
    if template is None:
        template, lang = per_lang["en"], "en"
    ids = r.crisis[key]
    return CrisisReply(
        text=_fill(template, r, ids, lang),
        resources=_pick(r, ids),
        category=category if key != "general" else None,
        language=lang,
        region=r.code,
    )


def checkin_reply(*, language: str = "en", region: str = "US") -> CrisisReply:
    """The fixed check-in for distress: asks plainly about suicide and safety, with the suicide lines (988 first)."""
    r = _region(region)
    lang = language if language in LANGUAGES else "en"
    per_lang = _templates()["checkin"]
    template = per_lang.get(lang) or per_lang["en"]
    ids = r.crisis["suicide"]
    return CrisisReply(text=_fill(template, r, ids, lang), resources=_pick(r, ids), category=None,
                       language=lang, region=r.code)


def checkin_lead(language: str = "en") -> str:
    """The check-in line put before an answer when a distressed message also asks a question."""
    per_lang = _templates()["checkin_lead"]
    return per_lang.get(language) or per_lang["en"]


def decline_text(kind: str, *, language: str = "en", region: str = "US") -> str:
    """The fixed, kind decline for a scope-guard kind (dosing, illegal, off_topic, injection, empty, unavailable)."""
    r = _region(region)
    per_lang = _templates()["decline"][kind]
    lang = language if language in per_lang else "en"
    return _fill(per_lang[lang], r, (), lang)
