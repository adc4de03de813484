"""Which language a message is in, just well enough to pick the crisis template (en, es, fr)."""

from __future__ import annotations

import re
import unicodedata
from guide.types import Language

_WORD = re.compile(r"[a-zñ']+")

# Frequent function words and the words people in distress use most; shared words (de, la, que) count for both.
_STOPWORDS: dict[str, frozenset[str]] = {
    "en": frozenset(
        "i me my myself you your he she him her it we they them the a an and or but to of in on at for with is am "
        "are was were be been have has had do does did not no can cant dont im this that what how when where who "
        "why will would should could just so if about want feel going anymore anyone help please".split()
    ),
    "es": frozenset(
        "yo me mi mis tu te el ella ellos nos los las la lo le les un una unos y o pero de del en con por para es "
        "soy estoy esta estan era fue ser tengo tiene no si ya mas muy que como cuando donde quien porque quiero "
        "puedo hacer todo nada nadie vida morir ayuda hijo hija esposo esposa amigo amiga novio madre padre "
        "mama papa hoy noche tomo tome pastillas quiere hay al se su sus".split()
    ),
    "fr": frozenset(
        "je j' me moi mon ma mes tu te toi il elle ils nous vous les le la l' un une des et ou mais de du en avec "
        "pour par est suis sont etait ai as a ne pas plus rien personne que qui quoi comment quand ou veux peux "
        "faire tout vie mourir aide fils fille mari femme ami amie copain mere pere ce cette c' ca au aux sur "
        "dans sa son ses se".split()
    ),
}
_MARKERS: dict[str, re.Pattern[str]] = {
    "es": re.compile(r"[ñ¿¡]|ción\b|\b(?:quiero|estoy|tengo|ya no|no puedo|mi vida)\b"),
    "fr": re.compile(r"[çœ]|\b(?:j'|c'est|je ne|n'|qu'|ne \w+ pas|je veux|je suis|j'ai)\b|[êèà]"),
}


def detect_language(text: str) -> Language:
    """'es' or 'fr' when the message clearly reads as Spanish or French, otherwise 'en'."""
    lowered = text.casefold()
    plain = "".join(ch for ch in unicodedata.normalize("NFD", lowered) if unicodedata.category(ch) != "Mn")
    words = _WORD.findall(plain.replace("\u2019", "'"))
    if not words:
        return "en"
    scores: dict[str, float] = {}
    for lang, stop in _STOPWORDS.items():
        scores[lang] = float(sum(1 for w in words if w in stop or (w.endswith("'") and w in stop)))
    for lang, marker in _MARKERS.items():
        scores[lang] += 1.5 * len(marker.findall(lowered))
    others: tuple[Language, ...] = ("es", "fr")
    best = max(others, key=lambda lang: scores[lang])
    if scores[best] > scores["en"] and scores[best] >= 1.5:
        return best
    return "en"
