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
from guide.types import DeclineKind, Language, ScopeVerdict, Turn

log = logging.getLogger("guide.safety")

# --- Dosing, tapering and prescribing ----------------------------------------------------------------------------
# The decline fires on questions about amounts, doses, schedules, tapers, how to start, stop, switch, mix, split or
# double a medication, how to take it, how much of a drug to use, and prescriptions from the guide (or without a
# prescriber). Questions about safety, availability, keeping naloxone at hand, detoxing alone, long-term treatment,
# drinking on naltrexone, how a medication works, side effects, myths and cost are answered.
# Calibrated on evals/calibration/dosing.jsonl (dev split); `python -m guide.evals.dosing` prints both error rates.
_NALOXONE = r"(?:naloxone|narcan|kloxxado|zimhi)"
# Medicines for opioid or alcohol use disorder: asking how to reach a prescriber of these, or whether one can drink
# on them, is a treatment question the corpus answers.
_TREATMENT = (r"(?:suboxone|suboxo\w*|buprenorphine|subutex|sublocade|zubsolv|subs|bupe|bup|methadone|methad\w*|"
              r"naltrex\w*|vivitrol|antabuse|disulfiram|acamprosate|campral|mat|moud)")
# Everything the dosing patterns treat as "a medication or drug" - naloxone aside: "one dose of narcan", "how
# many narcan sprays" are about an emergency, and the corpus answers them (call 911, stay, it wears off).
_MED = (
    r"(?:suboxone|suboxo\w*|buprenorphine|subutex|sublocade|zubsolv|subs|sub strips?|sub films?|bupe|bup|methadone|"
    r"methad\w*|naltrex\w*|vivitrol|xanax|xans?|alprazolam|bars|"
    r"valium|diazepam|klonopin|klon\w*pin|clonazepam|ativan|lorazepam|librium|chlordiazepoxide|gabapentin|neurontin|lyrica|"
    r"pregabalin|antabuse|disulfiram|acamprosate|campral|topiramate|baclofen|oxycodone|oxycontin|oxy|percocet|percs?|"
    r"vicodin|hydrocodone|morphine|fentanyl|heroin|tramadol|codeine|kratom|adderall|ritalin|zoloft|sertraline|prozac|"
    r"fluoxetine|lexapro|wellbutrin|bupropion|trazodone|seroquel|quetiapine|ambien|zolpidem|benzos?|benzodiazepines?|"
    r"opioids?|opiates?|medications?|medicines?|meds|pills?|tablets?|tabs|antidepressants?|sleeping pills|melatonin|"
    r"ibuprofen|tylenol|advil|benadryl|diphenhydramine|nyquil|cbd(?: oil)?|"
    r"chantix|varenicline|nicotine patch(?:es)?|patch(?:es)?|strips?|films?|shots?|injections?)"
)
_DRUG = rf"(?:{_MED}|{_NALOXONE}|dose|doses|dosage)"
# What people use and ask "how much can I do / use" about.
_USE_DRUG = (r"(?:coke|cocaine|crack|fent|fentanyl|heroin|dope|meth|weed|edibles?|edible|lean|alcohol|booze|liquor|"
             r"molly|mdma|ketamine|shrooms|acid|lsd|kratom|xans?|bars|percs?|oxys?|pills)")
_DOSE_WORD = r"(?:dose|doses|dosage|dosing|milligrams?|mill?igrams?|mg|mcg|\d+(?:\.\d+)? ?(?:mg|mcg|ml))"
_TAKER = r"(?:i|we|he|she|they|you|my \w+|someone|a person)"
_SUBJ = r"(?:i|we|he|she|they|you|my \w+)"
_MODAL = r"(?:should|shud|shld|shoud|can|could|may|must|do|would)"
_TAKE = r"(?:take|takin|taking|use|using)"
_NUM = r"(?:\d+(?:\.\d+)?|two|three|four|five|six|both)"
_ES_FR_MED = (r"(?:metadona|methadone|suboxona|suboxone|subutex|buprenorfina|buprenorphine|naltrexona|naltrexone|"
              r"xanax|valium|clonazepam|alprazolam|diazepam|lorazepam|antidepresivos?|antidepresseurs?|pastillas?|"
              r"medicamentos?|medicaments?|medicinas?|tiras?|comprimes?|comprimidos?|cachets?|gelules?|films?|"
              r"somniferes?|dosis|dose|traitement|tratamiento)")

# Always a dosing question, whatever frames it ("is it safe to take 32 mg", "is it dangerous to take 3 xanax").
_DOSING = [
    # How much / how many ... should I take: with nothing between, or with the drug or a unit named in between.
    re.compile(rf"\bhow (?:much|many) (?:of (?:it|them|this|that|those|(?:my|his|her|the) \w+) )?(?:should|shud|do|can|could|would|will|must|to|is it safe to|is safe to|am i supposed to|am i allowed to|do i need to) "
               rf"(?:{_TAKER} )?(?:be )?(?:take|takin|taking|use|give|have|start|be on|double|drink|snort|inject|smoke|dose|increase|decrease|cut|lower)\b"),
    re.compile(rf"\bhow (?:much|many) (?:\w+ ){{0,3}}?(?:{_MED}|{_USE_DRUG}|mg|milligrams?|mill?igrams?|mcg|ml|drops|puffs|hits|lines|grams|doses)(?: \w+){{0,2}}? "
               rf"(?:should|shud|do|can|could|would|will|must|to|is it safe to|is safe to) (?:{_TAKER} )?(?:be )?"
               rf"(?:take|takin|taking|use|give|have|start|be on|double|drink|snort|inject|smoke|dose|do|increase|decrease|cut)\b(?! (?:off|a break|time|part|care)\b)"),
    re.compile(rf"\bhow (?:much|many) (?:mg|milligrams?|mill?igrams?|mcg|ml|{_MED})\b(?! (?:does |do |is |are |would )?(?:\w+ )?(?:cost|costs|price)\b)"),
    re.compile(r"\bhow (?:much|many) (?:\w+ ){0,2}?(?:is|are) (?:too (?:much|many)|safe|ok|okay|normal|dangerous|lethal|deadly|fatal|a lot|enough)\b"),
    re.compile(rf"\bhow (?:much|many) (?:\w+ ){{0,4}}?(?:should|shud|do|can|could|would|will|must) {_TAKER} (?:take|takin|use|have|be on|give) (?:my |the |his |her )?(?:\w+ )?{_MED}\b"),
    re.compile(rf"\bwhen (?:should|shud|do|can|could) {_SUBJ} (?:take|use|have|give|dose) (?:my |the |his |her |a |an )?(?:next |second |first |last |third |another )?(?:\w+ )?(?:{_MED}|dose|one)\b"),
    re.compile(rf"\bhow strong (?:should|do|does|can|is) (?:my |the |his |her )?(?:\w+ )?(?:{_MED}|dose)\b"),
    # "what dose of ...", "what's the right amount of ...", "at what dose", "what's the dose?"
    re.compile(r"\b(?:what|wat|whats|wats|which)(?: is| are| was)? (?:the |a |an |my |his |her |your )?(?:right |correct |safe |normal |starting |start |usual |typical |average |recommended |max(?:imum)? |min(?:imum)? |lowest |highest |best |good |proper |standard |first )?"
               r"(?:dose|dosage|doses|dosing|amount|strength|mg) (?:of|for|should|do|to|is|would|i|he|she)\b(?! (?:naloxone|narcan))"),
    re.compile(r"\b(?:what|wat|whats|wats)(?: is)? (?:the |my |a )?(?:dose|dosage)\s*[?.!]*$|\bat what (?:dose|dosage|strength|mg)\b"),
    # A dose word or an amount next to a medication: "subs dose?", "xanax mg?", "16 mg of suboxone".
    re.compile(rf"(?<!take-home )(?<!take home )\b{_DOSE_WORD}\b.{{0,40}}\b{_MED}\b|\b{_MED}\b.{{0,40}}(?<!take-home )(?<!take home )\b{_DOSE_WORD}\b"),
    re.compile(r"\b\d+(?:\.\d+)? ?(?:mg|mcg|milligrams?|ml)\b.*\?"),
    re.compile(rf"\bis {_NUM} ?(?:(?:mg|mcg|ml|milligrams?)\b(?: \w+){{0,5}}?|(?:\w+ ){{0,2}}?{_MED}\b(?: \w+){{0,5}}?) (?:too much|too many|too high|too low|a lot|normal|ok|okay|safe|high|low|enough|dangerous|a high dose|a low dose)\b(?!.{{0,30}}\b{_NALOXONE})"),
    re.compile(rf"\b(?:take|takin|taking|use|using|have|give|giving|took) (?:{_NUM}|a couple(?: of)?|a few) (?:of )?(?:my |the |his |her |your |my friends?(?:'s)? |\w+'s )?(?:\w+ )?{_MED}\b"),
    re.compile(rf"\b{_MODAL} {_SUBJ} (?:just )?(?:take|use|have) (?:two|three|both|2|3|a double|double|the whole)\b"),
    # Tapering.
    re.compile(r"\b(?:tap+er(?:ing|ed|s)?|wean(?:ing|ed)?|titrat\w*)\b|\bstep(?:ping)? (?:me |him |her )?down (?:from|off|to|my|his|her|the dose|on)\b"),
    re.compile(rf"\bhow (?:fast|quickly|slowly|soon|long) (?:can|should|shud|do|could|would|will|does it take to|to) (?:{_SUBJ} )?(?:safely )?(?:come|get|go|wean|taper|step) (?:off|down)\b"),
    re.compile(r"\b(?:reduc|cut(?:ting)? down|cut(?:ting)? back|lower|decreas)\w*(?: on)? (?:my |his |her |the |their )?(?:drinking|drinks|alcohol|booze)\b.{0,50}\b(?:withdrawals?|seizures?|shakes|dts|delirium)\b"),
    # Changing, doubling, splitting, skipping a dose.
    re.compile(rf"\b(?:cut|cutting|reduce|reducing|lower|lowering|decrease|decreasing|increase|increasing|double|doubling|split|splitting|skip|skipping|halve|halving) (?:down on )?(?:my |the |his |her |their )?(?:\w+ )?(?:dose|dosage|{_MED})\b"),
    re.compile(rf"\b(?:double|doubling|doubled|dubble|triple|tripling) (?:up )?(?:on )?(?:my |the |his |her |a |an )?(?:\w+ )?{_MED}\b|\b(?:double|dubble|triple) (?:it|them|that|up on (?:it|them|that))\b"),
    re.compile(rf"\b(?:take|taking|use|using|have|having|give|giving|add|adding) (?:a |an )?(?:more|extra|another|second|third|additional|bigger|higher|larger|double|half(?: a)?|an extra|a second|a bigger|a higher) (?:of )?(?:my |the |his |her |a |an |one )?(?:\w+ )?(?:{_MED}|dose\b(?! of {_NALOXONE}))"),
    re.compile(rf"\b(?:take|taking|use|using) (?:more|extra) (?:of )?(?:my |the |his |her )?(?:\w+ )?{_MED}\b"),
    re.compile(rf"\b{_MED} (?:\w+ ){{0,3}}(?:early|sooner|more often|than (?:prescribed|i am prescribed|the doctor said)|extra|at once|together|at the same time)\b"),
    re.compile(r"\b(?:more|extra|higher|bigger) than (?:prescribed|my prescription|the prescription|i am prescribed|what i am prescribed|the doctor (?:said|prescribed))\b"),
    re.compile(rf"\b(?<!pick )(?<!picking )(?<!picked )(?:up|raise|bump(?: up)?|boost) (?:my |the |his |her )?(?:\w+ )?(?:dose|dosage|{_MED})\b"),
    re.compile(rf"\b(?:half|halves|quarters?|the whole)\b(?: a| of| of my| of the| my| the| her| his)? (?:\w+ )?(?:{_MED}|dose)\b|\b(?:{_MED}|dose|one) (?:in half|in two|into (?:halves|quarters|pieces))\b|\bor (?:a )?half\b"),
    re.compile(rf"\bspace (?:out )?(?:my |the |his |her )?(?:\w+ )?{_MED}\b|\bspace (?:it|them) out\b|\b(?:make|making) (?:my |the |his |her )?(?:\w+ )?(?:{_MED}|script|prescription|supply) last\b"),
    # Schedules and timing ("should I take my suboxone at night", "how long should I stay on ...").
    re.compile(rf"\b(?:should|can|could) (?:i|he|she|we|they) take (?:my |his |her |the |a |more |another |extra )?(?:\w+ )?{_DRUG}\b"),
    re.compile(rf"\bhow long (?:should|do|does|can|must) (?:i|he|she|you|someone) (?:stay on|be on|take|keep taking|use) (?:\w+ )?{_DRUG}\b"),
    re.compile(rf"\bhow (?:often|frequently) (?:should|shud|do|can|must|would) {_SUBJ} (?:take|use|dose|get|have) (?:my |the |his |her |a |an )?(?:\w+ )?(?:{_MED}|dose|it|them)\b"),
    re.compile(r"\b(?:what|which) time (?:of (?:the )?day )?(?:should|do|can) (?:i|he|she|you|we) (?:take|use|have)\b|\bbest time (?:of (?:the )?day )?to (?:take|use|have)\b"),
    re.compile(rf"\bhow (?:long|many (?:hours|days|minutes|weeks)|soon) (?:after|before|between|should (?:i|he|she|we) wait|do (?:i|you|we) (?:have to |need to )?wait|until)\b.{{0,60}}\b(?:{_MED}|dose|doses)\b"),
    re.compile(rf"\b(?:take|takin|use|have|dose) (?:\w+ ){{0,4}}?(?:every (?:\d+|other|few|couple|two|three|four|six|eight|twelve) (?:hours?|days?|weeks?)|every other day|(?:once|twice|three times) (?:a|per) (?:day|week)|a day|per day)\b"),
    re.compile(rf"\b(?:missed|miss|forgot|forget|skipped) (?:my |a |his |her |the )?(?:\w+ )?(?:dose|{_MED})\b.{{0,40}}\b(?:take|double|make up|two)\b"),
    # How to take it: "the correct way to take suboxone", "how do I take naltrexone", "can I chew the tablet".
    re.compile(r"\b(?:correct|right|proper|best|safest|normal|usual) way to take\b"),
    re.compile(rf"\bhow (?:do|should|can|am|would) (?:i|you|we|he|she)(?: supposed to)? take (?:my |the |his |her )?(?:\w+ )?{_MED}\b"),
    # Mixing ("why is it dangerous to mix ..." is a question about a known danger; alcohol on a treatment
    # medicine is the naltrexone/antabuse question the corpus answers).
    re.compile(rf"\b(?<!why )(?:is it (?:ok|okay|safe|dangerous|fine|bad|alright)(?: for (?:me|him|her))?|can i|can you|could i|should i|do i) (?:to )?"
               rf"(?:mix|combine)\b(?! (?:\w+ )?{_TREATMENT} (?:and|with) (?:alcohol|booze|drinking|beer|wine)\b)(?! (?:alcohol|booze|drinking|beer|wine) (?:and|with) (?:my )?{_TREATMENT})"),
    re.compile(rf"\b(?<!why )(?:is it (?:ok|okay|safe|dangerous|fine|bad|alright)|can i|can you|should i) (?:to )?drink (?:on|while on|with|while taking) (?!(?:my |the |his |her )?(?:\w+ )?{_TREATMENT})"),
    re.compile(rf"\b(?:is it (?:ok|okay|safe|dangerous|fine|bad|alright)(?: for (?:me|him|her))?(?: to)?|(?:can|could|should|shud|do|may) {_SUBJ}) (?:take|use) "
               rf"(?:(?:my |the |some |his |her )?(?:\w+ )?{_MED}(?: \w+)? (?:with|and|together)|(?:\w+ ){{1,3}}?with (?:my |the |his |her )?(?:\w+ )?{_MED})\b"),
    # Prescriptions from the guide, or around a prescriber.
    re.compile(rf"\b(?:can|could|will|would) you (?:please )?(?:prescribe|give me|get me|recommend) (?:me )?(?:some |a |an )?{_DRUG}\b"),
    re.compile(rf"\b(?:can|could|will|would) you (?:please )?(?:prescribe|write|send|call in|fax|renew|refill|give me|get me|order)(?: me| us)? (?:a |an |the |my |some )?(?:new |early |extra |emergency )?(?:{_MED} )?(?:prescription|script|refill|rx)\b"),
    re.compile(rf"\bwrite (?:me|us|him|her) (?:a |an )?(?:{_MED} )?(?:prescription|script|rx)\b"),
    re.compile(rf"\b(?:early|extra|emergency|bigger|larger) (?:{_MED} )?(?:refill|prescription|script)\b|\brefill (?:it |(?:my|his|her) \w+ )?early\b"),
    re.compile(rf"\b(?:get|getting|obtain) (?:a |an )?(?:{_MED} )?(?:prescription|script|rx)\b.{0,30}\bwithout (?:seeing|talking to|an? (?:doctor|appointment|visit|exam)|any(?:one|body)|questions?)\b"),
    re.compile(rf"\b(?<!where )(?<!how )(?<!who )(?:can|could|will) (?:i|he|she|we|they) (?:get|have|ask for) (?:a |an )?(?:\w+ )?(?:prescription|script|refill|rx)\b(?! (?:for )?(?:\w+ )?{_TREATMENT})"),
    re.compile(rf"\bprescription for (?:\w+ )?(?!{_TREATMENT}\b){_MED}\b"),
    re.compile(r"\b(?:convince|persuade|trick|get|talk|pressure) (?:my |the |a )?(?:doctor|doc|prescriber|psychiatrist|pcp|physician)(?: into| to)? (?:prescrib|writ|giv|up\b|rais|increas|switch|chang|lower)"),
    re.compile(rf"\b(?:what|which|wat)(?: kind of| type of)? (?:medications?|medicines?|meds|pills?|drugs?|supplements?|{_MED})? ?(?:should|can|could|would|do) (?:i|he|she|we|they|you|my \w+) "
               r"(?:take|use|try|be on|get)\b (?:for|to (?:help|stop|sleep|ease|get through)|tonight|now|instead)"),
    # Spanish.
    re.compile(r"\bcuant[oa]s? (?:\w+ ){0,4}?(?:debo |puedo |tengo que |hay que |se debe |deberia |debe |puede |necesito )?(?:tomar|tomo|toma|tomarme|usar|uso|dar|doy|darle|inyectar|poner|pongo|meterme)\b|\bcuant[oa]s? (?:mg|miligramos)\b"),
    re.compile(r"\bdosis\b(?! de (?:naloxona|narcan))|\bposologie\b"),
    re.compile(r"\b(?:tomar|tomo|tomarme|usar|darle) (?:dos|tres|cuatro|\d+|mas|media|medio|el doble)\b|\bmezcl\w*\b|\bcombin\w* (?:el |la |los |las )?(?:\w+ )?(?:xanax|alcohol|metadona|suboxona|suboxone|pastillas) con\b"),
    re.compile(r"\b(?:dejar|dejo|dejarla|dejarlo|bajar|bajo|bajarle|reducir|reduzco|reducimos|quitar|quito)\b.{0,40}\b(?:poco a poco|gradualmente|de a poco|lentamente|paulatinamente)\b"),
    re.compile(r"\b(?:me )?(?:puedes|puede|podrias|podria|podes) recetar(?:me)?\b|\brecetame\b|\bdame una receta\b"),
    re.compile(r"\bcada cuant[oa]s? (?:horas|dias)\b|\bcada \d+ horas\b|\ba que hora (?:debo |tengo que )?(?:tomar|tomo)\b|\bcuantas veces al dia\b"),
    re.compile(rf"\b(?:partir|parto|cortar|corto|dividir)\w* (?:la |el |mi |las |los )?(?:\w+ )?{_ES_FR_MED}|\ba la mitad\b"),
    re.compile(rf"\b(?:debo|deberia|puedo|podria|tengo que|debe|puede) (?:\w+ )?(?:dejar de tomar|dejar|parar|suspender|cambiar|empezar|comenzar|aumentar|subir|bajar|reducir|doblar|duplicar|saltar\w*) (?:de tomar |a )?(?:la |el |las |los |mis |mi |su |sus )?(?:\w+ )?{_ES_FR_MED}"),
    re.compile(r"\bcomo (?:me |se |lo |la |puedo |hago (?:para )?)?(?:desintoxic\w*|hacer (?:un |una )?(?:desintoxicacion|detox))\b.{0,40}\b(?:en casa|solo|sola|sin (?:medico|doctor|ayuda))\b"),
    # French.
    re.compile(r"\bcombien (?:de )?(?:\w+ ){0,3}(?:dois|doit|peux|peut|faut|devrais|devrait|devrions|doivent)(?:-je| je| il| elle)?(?: en)? (?:prendre|donner|mettre)\b|\bcombien de (?:mg|milligrammes)\b"),
    re.compile(r"\b(?:prendre|donner) (?:deux|trois|quatre|\d+|plus|double|la moitie|une demi|un demi)\b"),
    re.compile(r"\b(?:arreter|diminuer|baisser|reduire|sevrer|stopper|descendre)\b.{0,40}\b(?:progressivement|petit a petit|peu a peu|doucement|par paliers)\b"),
    re.compile(rf"\b(?:comment|dois-je|je dois|je peux|est-ce que je (?:peux|dois)|puis-je|peut-on) (?:\w+ ){{0,2}}?(?:diminuer|baisser|reduire|arreter|stopper|doubler|couper|augmenter|changer|sauter|melanger)\b.{{0,20}}\b{_ES_FR_MED}"),
    re.compile(rf"\b(?:prendre|melanger|combiner) (?:du |de la |des |le |la |les |mon |ma |mes )?(?:\w+ )?{_ES_FR_MED} (?:avec|et)\b"),
    re.compile(r"\b(?:peux|pouvez|pourrais|pourriez)(?:-vous|-tu)? me prescrire\b|\bprescris-moi\b"),
    re.compile(r"\bcomment (?:faire (?:un |une |mon )?|me )?sevr\w*\b.{0,40}\b(?:seul|seule|a la maison|chez moi|sans medecin)\b"),
    re.compile(r"\ba quelle heure\b.{0,30}\bprendre\b|\bcombien de fois par (?:jour|semaine)\b|\btoutes les \d+ heures\b"),
]
# Decisions to start, stop, switch or keep taking a medication, and how-to questions about detoxing alone: declined,
# unless the message asks whether it is safe or dangerous ("is it dangerous to stop methadone cold turkey?", which
# the corpus answers) or is about pressure to stop ("my sponsor told me to get off my meds, is that right?").
_DOSING_DECISION = [
    re.compile(rf"\b{_MODAL} {_SUBJ}(?: still)? (?:just |simply |safely |now |suddenly )?(?:stop|start|keep (?:taking|takin|using|on)|mix|combine|switch|quit|skip|increase|decrease|crush|snort|sniff|inject|smoke|chew|swallow|dissolve|split|halve|lower|raise|go back on)"
               rf"(?: taking| takin| using)? (?:my |his |her |their |the |a |an |of )?(?:\w+ )?{_MED}\b(?! (?:treatment|program|therapy|clinic)\b)"),
    re.compile(rf"\b{_MODAL} {_SUBJ} (?:just |simply |now )?(?:stop|quit) (?:taking|takin) (?:it|them|these|those)\b"),
    re.compile(rf"\bis it (?:ok|okay|fine|alright|safe|bad) (?:if|for) (?:i|me|him|her|us|my \w+) (?:to )?(?:stop|skip|quit|start|switch|double|split|miss)\b"),
    re.compile(rf"\b(?:come|coming|came|get|getting|go|going|went) off (?:of )?(?:my |the |his |her |their )?(?:\w+ )?(?!(?:heroin|fentanyl|pills?|opioids?|opiates?)\b){_MED}\b"),
    re.compile(rf"\b(?:switch|switching|go|going|move|moving|change|changing|transition\w*) (?:over )?from (?:my |the |his |her )?(?:\w+ )?{_MED} (?:\w+ )?(?:to|onto)\b|\bhow (?:do|can|should) {_SUBJ} switch (?:my |the |his |her )?(?:\w+ )?{_MED}\b"),
    # How to detox alone - not whether it is safe ("is it dangerous to detox on my own?" is answered).
    re.compile(r"\b(?:how (?:do|can|should|would|could|to) (?:i |we |you |he |she |they |someone |my \w+ )?|(?:best|safest|fastest|easiest|quickest|right|good) way to |plan (?:to|for) |help me |teach me to )"
               r"(?:safely )?(?:detox|withdraw|get through (?:the )?withdrawal|dry out)\w*\b(?:\s+\S+){0,6}?\s+"
               r"(?:at home|on my own|on (?:his|her|their) own|by myself|by (?:him|her|them)self|by themselves|alone|without a doctor|without (?:medical )?(?:help|supervision))\b"),
    re.compile(r"\bhome (?:detox|withdrawal|taper) (?:plan|schedule|protocol|kit|regimen|guide|steps)\b|\b(?:plan|schedule|protocol|regimen) (?:for|to) (?:a )?(?:home )?(?:detox|withdrawal)\b"),
    re.compile(rf"\bhow (?:do|can|should) (?:i|we|you|he|she) (?:start|begin) (?:my |the |his |her )?(?:\w+ )?{_MED}\b.{{0,40}}\b(?:at home|myself|by myself|on my own|without)\b"),
    re.compile(rf"\bcomo (?:se |me |le )?(?:lo |la |los |las )?(?:va |voy |vamos )?(?:reduc\w*|baj\w*|quit\w*|dej\w*)\b.{{0,40}}\b{_ES_FR_MED}|\b{_ES_FR_MED}\b.{{0,40}}\bcomo (?:se |me |le )?(?:lo |la |los |las )?(?:va |voy |vamos )?(?:reduc\w*|baj\w*|quit\w*)\b"),
]
_SAFETY_FRAME = re.compile(
    r"\b(?:is|are|was|would) (?:it|that|this|they) (?:\w+ )?(?:dangerous|safe|risky|harmful|deadly|fatal|a bad idea|life-threatening)\b"
    r"|\bcan (?:you|it|that|withdrawal) (?:kill|die)\b"
    r"|\b(?:told|tell|tells|telling|want|wants|wanted|pressur\w*|push\w*|expect\w*|urg\w*|asked|asking) (?:me|him|her|us|them) (?:to|into)\b.{0,30}\b(?:stop|quit|get off|come off|go off)"
    r"|\b(?:say|says|said|tells?|told|think|thinks)(?: me| him| her| us)? (?:that )?(?:i|he|she|we) (?:should|need to|have to|must|ought to)\b.{0,20}\b(?:stop|quit|get off|come off|go off)"
    r"|\b(?:to|so i can|in order to) (?:do recovery|be (?:really |truly |fully |properly )?(?:sober|clean|in recovery)|count as (?:sober|clean))\b|\bthe right way\b|\breal recovery\b"
    r"|\b(?:are|is) (?:they|he|she|that|it) right\b|\bis that (?:right|true)\b"
)
# A follow-up whose medication is named only in an earlier turn: "can I take an extra one tonight?" after "I'm on
# methadone.", "¿cómo se lo reducimos?" after "Mi hijo toma xanax".
_DOSING_FOLLOW_UP = [
    re.compile(r"\b(?:take|have|give|use) (?:him |her |them |me )?(?:an? )?(?:extra|another|second|more|double)(?: one| dose| of (?:it|them))?\b"),
    re.compile(r"\b(?:double|triple|split|halve|cut|lower|raise|increase|decrease|reduce|skip|crush|up) (?:it|them|that|the dose)\b"),
    re.compile(r"\b(?:reduc|baj|quit|dej)\w*(?:se)?(?:lo|la|los|las)\b|\bse (?:lo|la) (?:va )?(?:reduc|baj|quit)\w*\b|\ben prendre\b"),
]
_MED_MENTION = re.compile(rf"\b(?:{_MED}|{_ES_FR_MED})\b")


def _dosing_reason(body: str, history: Sequence[Turn]) -> str | None:
    """The dosing phrase found in the message, or None when it is not a dosing question."""
    for rx in _DOSING:
        m = rx.search(body)
        if m:
            return m.group(0)
    if not _SAFETY_FRAME.search(body):
        for rx in _DOSING_DECISION:
            m = rx.search(body)
            if m:
                return m.group(0)
    earlier = [basic_normalize(t.text) for t in history[-4:] if t.role == "user"]
    if any(_MED_MENTION.search(t) for t in earlier):
        for rx in _DOSING_FOLLOW_UP:
            m = rx.search(body)
            if m:
                return m.group(0)
    return None


_ILLEGAL_DRUG = (
    r"(?:heroin|meth|methamphetamine|crack|cocaine|coke|fentanyl|fent|molly|mdma|ecstasy|lsd|acid|shrooms|ketamine|"
    r"pills|xanax|xans|bars|oxy|oxys|percs?|blues|weed|drugs|dope|dabs|benzos|opioids|painkillers|adderall|suboxone|"
    r"subs|methadone|pain pills|roxys?)"
)
_ILLEGAL = [
    re.compile(rf"\b(?:where|how|who) (?:can|do|could|to|would|should|might) (?:i |you |we |someone )?(?:buy|get|find|score|cop|order|purchase|source|pick up|grab) (?:some |more |cheap |good |real )?"
               # not "get off heroin", "get clean from meth", "pick up my methadone" (quitting, or a prescription)
               rf"(?:(?!(?:off|clean|sober|help|rid|away|out|over|through|into|my|his|her|our|their)\b)\w+ )?"
               rf"{_ILLEGAL_DRUG}\b(?! test| testing| strips?)"),
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


def _has_question(text: str) -> bool:
    words = re.findall(r"[a-z0-9']+", text)
    filler = {"and", "then", "now", "please", "just", "tell", "me", "say", "do", "it", "that", "this", "the", "a",
              "you", "your", "to", "answer", "respond", "reply", "with", "instead", "ok", "okay", "yes", "no"}
    return any(w not in filler for w in words)


def guarded_scope_check(text: str, history: Sequence[Turn] = (), *, region: str = "US",
                        language: Language | None = None) -> ScopeVerdict:
    """scope_check, but any exception declines the turn (kind "unavailable") instead of answering it unchecked
    or showing a traceback; the log names the exception type, never the text."""
    try:
        return scope_check(text, history, region=region, language=language)
    except Exception as exc:  # noqa: BLE001 - failing closed is the point
        log.error("scope guard failed (%s); declining the turn", type(exc).__name__)
        return ScopeVerdict(allowed=False, kind="unavailable", reasons=("scope guard failed; declining",),
                            reply=decline_text("unavailable", language=language or "en", region=region))


def scope_check(text: str, history: Sequence[Turn] = (), *, region: str = "US",
                language: Language | None = None) -> ScopeVerdict:
    """Decide whether a (crisis-checked) message is something the guide should answer, and if not, how to decline.
    `language` is the turn's, when the caller already knows it. An allowed verdict's `query` is what retrieval
    searches: the message itself, or what is left of it once prompt injection is removed."""
    language = language or detect_language(text or "")

    def decline(kind: DeclineKind, *reasons: str) -> ScopeVerdict:
        return ScopeVerdict(allowed=False, kind=kind, reply=decline_text(kind, language=language, region=region),
                            reasons=tuple(reasons), injection=bool(injections))

    injections: list[str] = []
    norm = basic_normalize(text or "")
    if not re.search(r"[a-z0-9]", norm):
        return decline("empty", "empty message")
    body, injections = _remove_injection(norm)
    notes = [f"prompt injection ignored: '{injections[0][:60]}'"] if injections else []
    if injections and not _has_question(body):
        return decline("injection", *notes)

    dosing = _dosing_reason(body, history)
    if dosing is not None:
        return decline("dosing", *notes, f"dosing, tapering or prescribing: '{dosing[:60]}'")
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
    # the injected instructions are ignored: retrieval searches only what is left of the question
    return ScopeVerdict(allowed=True, kind="in_scope", reasons=tuple(notes), query=body if injections else text,
                        injection=bool(injections))
