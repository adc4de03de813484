"""The scope guard, run after the crisis check: dosing and prescribing, illegal supply, off-topic, injection.

It is deliberately conservative about "off-topic": anything touching recovery, substances, family, feelings,
groups or treatment stays in scope, and so does a short follow-up in an ongoing conversation. Prompt injection
changes nothing: the injected part is removed and whatever question is left is judged on its own.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

from guide.safety.language import detect_language
from guide.safety.normalize import basic_normalize
from guide.safety.resources import decline_text
from guide.types import ScopeVerdict, Turn

log = logging.getLogger("guide.safety")

_DRUG = (
    r"(?:suboxone|buprenorphine|subutex|sublocade|zubsolv|subs|sub strips?|sub films?|bupe|bup|methadone|naltrexone|vivitrol|naloxone|narcan|xanax|alprazolam|"
    r"valium|diazepam|klonopin|clonazepam|ativan|lorazepam|librium|chlordiazepoxide|gabapentin|neurontin|lyrica|"
    r"pregabalin|antabuse|disulfiram|acamprosate|campral|topiramate|baclofen|oxycodone|oxycontin|oxy|percocet|percs?|"
    r"vicodin|hydrocodone|morphine|fentanyl|heroin|tramadol|codeine|kratom|adderall|ritalin|zoloft|sertraline|prozac|"
    r"fluoxetine|lexapro|wellbutrin|bupropion|trazodone|seroquel|quetiapine|ambien|zolpidem|benzos?|benzodiazepines?|"
    r"opioids?|opiates?|medications?|meds|pills?|tablets?|antidepressants?|sleeping pills|melatonin|ibuprofen|tylenol|"
    r"chantix|varenicline|nicotine patch(?:es)?|patch(?:es)?|strips?|films?|dose|doses|dosage)"
)
_TAKER = r"(?:i|we|he|she|they|you|my \w+|someone|a person)"

_DOSING = [
    re.compile(rf"\bhow (?:much|many) (?:\w+ ){{0,3}}(?:should|do|can|could|would|must|to|is it safe to|is safe to) (?:{_TAKER} )?(?:take|use|give|have|start|be on|double|drink|snort|inject|smoke|dose|increase|decrease|cut)\b"),
    re.compile(rf"\bhow (?:much|many) (?:mg|milligrams?|mcg|ml|{_DRUG})\b"),
    re.compile(rf"\bwhat (?:is the |are the |is a |'s the )?(?:right |correct |safe |normal |starting |usual |max(?:imum)? |best )?(?:dose|dosage|doses|amount|strength|mg) (?:of|for|should|do|to|is)\b"),
    re.compile(rf"\b(?:dose|dosage|dosing|milligrams?|\d+ ?mg)\b.{{0,40}}\b{_DRUG}\b|\b{_DRUG}\b.{{0,40}}\b(?:dose|dosage|dosing|milligrams?|\d+ ?mg)\b"),
    re.compile(r"\b(?:taper(?:ing)?|wean(?:ing)?|step(?:ping)? down)\b"),
    re.compile(rf"\b(?:come|coming|get|getting|go|going) off (?:of )?(?:my |the |his |her )?(?:\w+ )?{_DRUG}\b"),
    re.compile(r"\b(?:detox|withdraw)\w* (?:\w+ ){0,3}(?:at home|on my own|by myself|alone|without a doctor)\b"),
    re.compile(r"\bcuant[oa]s? (?:\w+ ){0,3}(?:debo|puedo|tengo que|hay que|se debe) (?:tomar|usar|dar|inyectar)\b|\bcuant[oa]s? (?:mg|miligramos)\b|\b(?:dosis|posologie)\b"),
    re.compile(r"\bcombien (?:de )?(?:\w+ ){0,3}(?:dois|peux|faut|devrais)(?:-je| je)? (?:prendre|donner)\b|\bcombien de (?:mg|milligrammes)\b"),
    re.compile(rf"\b(?:cut|cutting|reduce|reducing|lower|lowering|decrease|decreasing|increase|increasing|double|doubling|split|splitting|skip|skipping) (?:down on )?(?:my |the |his |her )?(?:dose|dosage|{_DRUG})\b"),
    re.compile(rf"\b(?:can|could|how do|how can|where can|will|would) (?:i|you|we) (?:get|obtain|have|write|give me|prescribe)(?: me)? (?:a |an )?(?:prescription|script|refill|rx)\b"),
    re.compile(rf"\b(?:can|could|will|would) you (?:prescribe|give me|get me|recommend) (?:me )?(?:some |a |an )?{_DRUG}\b"),
    re.compile(rf"\bprescription for (?:\w+ )?{_DRUG}\b"),
    re.compile(rf"\b(?:should|can|could|may) (?:i|he|she|we|they) (?:stop|start|keep|double|mix|combine|switch|quit|skip|increase|decrease|crush|snort|inject) (?:taking |using )?(?:my |his |her |the |a )?(?:\w+ )?{_DRUG}\b"),
    re.compile(rf"\b(?:should|can|could) (?:i|he|she|we|they) take (?:my |his |her |the |a |more |another |extra )?(?:\w+ )?{_DRUG}\b"),
    re.compile(rf"\b(?:is it (?:ok|okay|safe|dangerous|fine|bad)|can i|can you|should i) (?:to )?(?:mix|combine|drink (?:on|while on|with)|take \w+ (?:with|and)|use \w+ (?:with|and))\b"),
    re.compile(rf"\bhow long (?:should|do|does|can|must) (?:i|he|she|you|someone) (?:stay on|be on|take|keep taking|use) (?:\w+ )?{_DRUG}\b"),
    re.compile(r"\b\d+(?:\.\d+)? ?(?:mg|mcg|milligrams?|ml)\b.*\?"),
    # Changing how much or how often: "double up on my subs", "take an extra strip", "take more of my meds".
    re.compile(rf"\b(?:double|doubling|doubled|triple|tripling) (?:up )?(?:on )?(?:my |the |his |her |a |an )?(?:\w+ )?{_DRUG}\b"),
    re.compile(rf"\b(?:take|taking|use|using|have|having|give|giving|add|adding) (?:a |an )?(?:more|extra|another|second|third|additional|bigger|higher|larger|double|half(?: a)?|an extra|a second|a bigger|a higher) (?:of )?(?:my |the |his |her |a |an |one )?(?:\w+ )?{_DRUG}\b"),
    re.compile(rf"\b(?:take|taking|use|using) (?:more|extra) (?:of )?(?:my |the |his |her )?(?:\w+ )?{_DRUG}\b"),
    re.compile(rf"\b{_DRUG} (?:\w+ ){{0,3}}(?:early|sooner|more often|than (?:prescribed|i am prescribed|the doctor said)|extra|at once|together)\b"),
    re.compile(rf"\b(?:more|extra|higher|bigger) than (?:prescribed|my prescription|the prescription|i am prescribed|what i am prescribed|the doctor (?:said|prescribed))\b"),
    re.compile(rf"\b(?:up|raise|bump(?: up)?|boost) (?:my |the |his |her )?(?:dose|dosage|{_DRUG})\b"),
]
_ILLEGAL_DRUG = (
    r"(?:heroin|meth|methamphetamine|crack|cocaine|coke|fentanyl|fent|molly|mdma|ecstasy|lsd|acid|shrooms|ketamine|"
    r"pills|xanax|xans|bars|oxy|oxys|percs?|blues|weed|drugs|dope|dabs|benzos|opioids|painkillers|adderall|suboxone|"
    r"subs|methadone|pain pills|roxys?)"
)
_ILLEGAL = [
    re.compile(rf"\b(?:where|how|who) (?:can|do|could|to|would|should|might) (?:i |you |we |someone )?(?:buy|get|find|score|cop|order|purchase|source|pick up|grab) (?:some |more |cheap |good |real )?(?:\w+ )?{_ILLEGAL_DRUG}\b(?! test| testing| strips?)"),
    re.compile(rf"\b(?:how (?:do|can|to) (?:i |you |we )?|where to |want to |teach me to )(?:make|cook|synthesi[sz]e|extract|grow|brew|press|manufacture) (?:my own |some |homemade )?{_ILLEGAL_DRUG}\b"),
    re.compile(rf"\bhow to (?:buy|get|score|cop|order) {_ILLEGAL_DRUG}\b"),
    re.compile(r"\b(?:dark ?web|darknet|from a dealer|find a dealer|my plug|a plug|the plug|a connect)\b"),
    re.compile(r"\b(?:pass|beat|cheat|fake|trick|get around|flush|mask|dilute|clean) (?:a |my |the |an |his |her )?(?:drug|urine|piss|pee|ua|hair|mouth swab|saliva|court ordered) ?(?:test|screen|screening)\b"),
    re.compile(r"\b(?:fake|forged|forge|buy) (?:a )?(?:prescription|script|rx)\b"),
    re.compile(rf"\b(?:i|we|to|me) (?:\w+ )?sell (?:my |some |our |his |her )?{_ILLEGAL_DRUG}\b"),
]
# Getting a prescription drug outside a prescriber. Not applied when the message is about harm-reduction supplies
# (naloxone, test strips), which are legal without a prescription.
_SOURCE = (r"(?:someone|somebody|anyone|anybody|people|a guy|guys|a friend|friends|a dealer|dealers|a stranger|strangers|"
           r"folks|a coworker|someone online|a website|an online (?:seller|vendor|shop|pharmacy)|telegram|instagram|"
           r"snapchat|reddit|facebook|the streets?)")
_OBJECT = rf"(?:(?:some|any|more|extra|the|my|those|these|a few) )?(?:{_DRUG}|{_ILLEGAL_DRUG}|them|it|some|any|those|these)"
_ILLEGAL_RX = [
    re.compile(r"\b(?:without a prescription|without a script|no prescription needed|no script needed)\b"),
    # "where can I get strips without seeing a doctor" - but not "get into treatment without a referral".
    re.compile(r"\b(?:get|getting|buy|buying|obtain|obtaining|find|finding|order|ordering|purchase|score|cop|source|pick up)\b"
               r"(?! (?:into|in to|to|help|treatment|seen|admitted|started|an appointment|a bed|a referral|on a (?:wait)?list)\b)"
               r"(?: \S+){0,5}? without (?:seeing |going to |visiting |talking to |a visit to |asking )?(?:a |the |my |any )?"
               r"(?:doctor|doc|prescriber|prescription|script|rx|clinic|pharmacy)\b(?! in person)"),
    # "from someone selling them", "do you know anyone who sells subs" - not "people who sell drugs" on its own.
    re.compile(rf"\b(?<!away )(?<!apart )(?:from|off(?: of)?|through|via|know|find|meet|contact|message|text|call|ask) {_SOURCE} "
               r"(?:who (?:is |are )?|that (?:is |are )?)?(?:selling|sells|sell|has extra|have extra|with extra|"
               r"giving (?:them |it )?away)\b"),
    # "buy subs off a guy", "get them from someone online", "cop bars on the street".
    re.compile(rf"\b(?:buy|buying|get|getting|score|scoring|cop|copping|purchase|purchasing|order|ordering) {_OBJECT}"
               rf"(?: \S+){{0,3}}? (?:from|off(?: of)?|on) {_SOURCE}\b"),
]
# Harm-reduction supplies are legal without a prescription: asking where to get them stays in scope.
_HARM_REDUCTION = re.compile(
    r"\b(?:naloxone|narcan|kloxxado|zimhi|(?:fentanyl |xylazine |drug )?test(?:ing)? strips?|nicotine (?:gum|patch(?:es)?|lozenges?)|"
    r"clean (?:needles|syringes|works)|needle exchange|syringe (?:service|exchange)s?)\b")
_INJECTION = [
    re.compile(r"\b(?:ignore|disregard|forget|override|bypass|skip|drop) (?:all |any |the |your |my |these |those |every )?(?:previous |prior |above |earlier |preceding |original |system |safety |existing )*(?:instructions?|rules|prompts?|guidelines|directions|programming|restrictions|constraints|guardrails|filters|policies|training)\b(?: (?:you were given|you have|above|and (?:all )?(?:rules|restrictions)))?"),
    re.compile(r"\byou are (?:now )?(?:dan|a different (?:ai|assistant|bot)|an? (?:unrestricted|unfiltered|uncensored|jailbroken) \w+|free (?:from|of) (?:all |any |your )?(?:rules|restrictions|guidelines))\b"),
    re.compile(r"\b(?:pretend|act|roleplay|role-play|role play|imagine) (?:to be|as if you are|as if you were|as|that you are|you are|you're|like) (?:a |an |my )?(?:doctor|pharmacist|physician|nurse|psychiatrist|dealer|chemist|dan|evil|unrestricted|unfiltered|different) ?\w*\b"),
    re.compile(r"\b(?:reveal|show|print|repeat|output|tell me|display|leak|what (?:is|are)) (?:me )?(?:your (?:system |initial |hidden |original |secret )*(?:prompt|instructions|rules|configuration)|the (?:system |initial |hidden |original |secret )+(?:prompt|instructions|rules|configuration))\b"),
    re.compile(r"\b(?:(?:enable|enabled|enabling|activate|activated|enter|entering|turn on|switch to|switching to|unlock|unlocked) )?"
               r"(?:developer|dev|debug|admin|god|sudo|jailbreak|jail break|maintenance|unrestricted|root|dan) mode"
               r"(?: (?:is )?(?:now )?(?:enabled|activated|on|engaged|unlocked|active))?\b|\bjailbr(?:eak|oken)\w*\b|\bdo anything now\b"),
    re.compile(r"\b(?:system|admin|administrator|root|developer|security) (?:override|update|message|notice|alert|command|access)s?"
               r"(?: (?:enabled|activated|granted|accepted|on))?\b|\boverride (?:code|enabled|activated|accepted|granted|mode)\b"),
    re.compile(r"\b(?:your|the|all|any) (?:hidden|secret|internal|confidential) (?:rules|instructions|prompt|"
               r"guidelines|policies|directives|configuration|settings)\b"),
    re.compile(r"(?:^|\s)(?:new instructions|system prompt|system)\s*:|\[/?(?:system|inst)\]|<\|?(?:im_start|im_end|system)\|?>|###\s*(?:instruction|system)"),
    re.compile(r"\bfrom now on,? you (?:will|must|are|should)\b[^.?!]*"),
]
_IN_SCOPE = re.compile(
    r"\b(?:aa|na|ca|cma|ma|ga|smart|al-?anon|ala-?teen|alateen|nar-?anon|families anonymous|anonymous|recover\w*|"
    r"sober\w*|clean|relaps\w*|slip\w*|drink\w*|drank|drunk|alcohol\w*|booze|beer|wine|liquor|vodka|whiskey|"
    r"drug\w*|substance\w*|addict\w*|using|use|used|high|meth|heroin|opioid\w*|opiate\w*|fentanyl|cocaine|coke|crack|"
    r"weed|marijuana|cannabis|pills?|xanax|benzo\w*|suboxone|buprenorphine|methadone|naltrexone|naloxone|narcan|"
    r"vivitrol|medication\w*|mat|moud|craving\w*|urges?|trigger\w*|meeting\w*|group\w*|sponsor\w*|steps?|twelve|"
    r"12|big book|chips?|fellowship|support\w*|treatment|rehab|detox|therap\w*|counsel\w*|doctor|clinic\w*|"
    r"outpatient|inpatient|iop|php|residential|partial hospitali[sz]ation|sober living|halfway house|recovery homes?|"
    r"levels? of care|aftercare|continuing care|step-?down|day programs?|"
    r"family|families|parent\w*|son|daughter|husband|wife|partner|kids?|child\w*|teens?|teenager\w*|friends?|"
    r"brother|sister|mom|mother|dad|father|loved ones?|feel\w*|sad|lonely|alone|anxious|anxiety|depress\w*|"
    r"stress\w*|angry|anger|shame\w*|guilt\w*|grief|griev\w*|scared|afraid|worr\w*|hope\w*|god|higher power|"
    r"religio\w*|spiritual\w*|secular|samhsa|988|hotline|helpline|crisis|craft|intervention|codependen\w*|"
    r"enabl\w*|boundar\w*|gambl\w*|harm reduction|insurance|mental health|well-?being|sleep|smok\w*|vap\w*|"
    r"nicotine|quit\w*|stop(?:ped|ping)?|cut(?:ting)? back|hangover|withdrawal|bottom|serenity|amends|"
    r"inventory|literature|newcomer\w*|open|closed|zoom|online meeting\w*|recovery)\b"
)
_OFF_TOPIC_STRONG = re.compile(
    r"\b(?:python|javascript|typescript|java|c\+\+|rust|golang|sql|html|css|regex|code|coding|programming|"
    r"function|compile|debug|stack ?overflow|api|algorithm|linux|excel formula|spreadsheet|"
    r"capital of|who won|world cup|super bowl|world series|nba|nfl|premier league|stock price|stocks|bitcoin|crypto|"
    r"recipe|bake|baking|weather|forecast|horoscope|translate|tell me a joke|a joke|riddle|poem about (?!sobriety|recovery|"
    r"addiction)|write (?:me )?(?:an? )?(?:essay|poem|story|song|cover letter|resume|program|script|function|app)|homework|math|equation|integral|"
    r"derivative|population of|how tall is|how far is|who is the president|president of|prime minister|"
    r"solve|calculate|square root|celebrity|movie recommendations?|best (?:phone|laptop|tv|car|movie|restaurant))\b"
    r"|\b\d+ ?[-+*/x] ?\d+ ?=?\s*\??$"
)
_OFF_TOPIC_WEAK = re.compile(r"\b(?:movie|film|song|game|sports?|book|history|trivia|music|travel|vacation|shopping)\b")
_FOLLOW_UP_WORDS = 8


def _remove_injection(text: str) -> tuple[str, list[str]]:
    found: list[str] = []
    for rx in _INJECTION:
        def cut(m: re.Match[str]) -> str:
            found.append(m.group(0).strip())
            return " "

        text = rx.sub(cut, text)
    text = re.sub(r"^[\s,.;:!-]*(?:(?:and|then|now|instead|please|just|so|also|ok|okay)\b[\s,.;:!-]*)*", "", text)
    return " ".join(text.split()), found


def strip_injection(text: str) -> str:
    """The message with prompt-injection phrases removed (normalised, lower case): what retrieval should search."""
    body, _ = _remove_injection(basic_normalize(text or ""))
    return body


def _has_question(text: str) -> bool:
    words = re.findall(r"[a-z0-9']+", text)
    filler = {"and", "then", "now", "please", "just", "tell", "me", "say", "do", "it", "that", "this", "the", "a",
              "you", "your", "to", "answer", "respond", "reply", "with", "instead", "ok", "okay", "yes", "no"}
    return any(w not in filler for w in words)


def guarded_scope_check(text: str, history: Sequence[Turn] = (), *, region: str = "US") -> ScopeVerdict:
    """scope_check, but any exception declines the turn (kind "unavailable") instead of answering it unchecked
    or showing a traceback; the log names the exception type, never the text."""
    try:
        return scope_check(text, history, region=region)
    except Exception as exc:  # noqa: BLE001 - failing closed is the point
        log.error("scope guard failed (%s); declining the turn", type(exc).__name__)
        try:
            language = detect_language(text or "")
        except Exception:  # noqa: BLE001
            language = "en"
        return ScopeVerdict(allowed=False, kind="unavailable", reasons=("scope guard failed; declining",),
                            reply=decline_text("unavailable", language=language, region=region))


def scope_check(text: str, history: Sequence[Turn] = (), *, region: str = "US") -> ScopeVerdict:
    """Decide whether a (crisis-checked) message is something the guide should answer, and if not, how to decline."""
    language = detect_language(text or "")

    def decline(kind: str, *reasons: str) -> ScopeVerdict:
        return ScopeVerdict(allowed=False, kind=kind, reply=decline_text(kind, language=language, region=region),  # type: ignore[arg-type]
                            reasons=tuple(reasons))

    norm = basic_normalize(text or "")
    if not re.search(r"[a-z0-9]", norm):
        return decline("empty", "empty message")
    body, injections = _remove_injection(norm)
    notes = [f"prompt injection ignored: '{injections[0][:60]}'"] if injections else []
    if injections and not _has_question(body):
        return decline("injection", *notes)

    for rx in _DOSING:
        m = rx.search(body)
        if m:
            return decline("dosing", *notes, f"dosing, tapering or prescribing: '{m.group(0)[:60]}'")
    harm_reduction = _HARM_REDUCTION.search(body)
    for rx in (*_ILLEGAL, *(() if harm_reduction else _ILLEGAL_RX)):
        m = rx.search(body)
        if m:
            return decline("illegal", *notes, f"illegal supply or test evasion: '{m.group(0)[:60]}'")

    in_scope = _IN_SCOPE.search(body)
    if injections and not in_scope:
        return decline("injection", *notes, "nothing about recovery left after removing the injection")
    if not in_scope:
        strong = _OFF_TOPIC_STRONG.search(body)
        if strong:
            return decline("off_topic", *notes, f"off-topic: '{strong.group(0)}'")
        weak = _OFF_TOPIC_WEAK.search(body)
        has_history = bool(history)
        short = len(body.split()) <= _FOLLOW_UP_WORDS
        if weak and not (has_history and short):
            return decline("off_topic", *notes, f"off-topic: '{weak.group(0)}'")
        if has_history:
            notes.append("short follow-up in an ongoing conversation" if short else "follow-up in a conversation")
    else:
        notes.append(f"in scope: '{in_scope.group(0)}'")
    return ScopeVerdict(allowed=True, kind="in_scope", reasons=tuple(notes))
