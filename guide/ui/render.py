"""Pure helpers that turn Answers, Citations and Resources into safe Markdown / HTML strings.

Two rules keep the page safe. User text is only ever shown as escaped Markdown (never with
unsafe_allow_html), so a question containing HTML or Markdown shows as typed. HTML is built only for
the help-line banner and the crisis card, from the safety layer's fixed templates and reviewed
resources, with every value passed through html.escape and every link limited to tel:, sms: and https:.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote

from guide.types import Answer, Citation, Resource

#: Inline characters that could start a link, image, HTML, code, emphasis, a table or LaTeX (Streamlit reads `$`).
_MD_INLINE = re.compile(r"([\\`*_\[\]()<>#|~$&!])")
#: Line starts that would make a list, a quote or a setext heading.
_MD_LINE_START = re.compile(r"^(\d+)([.)])|^([-+=])")

AUDIENCE_LABELS = {"newcomer": "Newcomer", "family": "Family or friend", "staff": "Staff"}

QUICK_STARTS = {
    "newcomer": (
        "What happens at a first AA meeting?",
        "Is SMART Recovery religious?",
        "How do I find a meeting?",
        "What is sober living?",
    ),
    "family": (
        "What is Al-Anon?",
        "How can I talk with a loved one about their drinking?",
        "What is CRAFT?",
        "How do I respond to an opioid overdose?",
    ),
    "staff": (
        "What are the levels of care?",
        "What medications treat opioid use disorder?",
        "Which mutual-help groups are secular?",
        "What does a peer recovery specialist do?",
    ),
}

WELCOME = (
    "**Welcome.** This guide answers questions about peer support and recovery options — meetings like AA, "
    "NA and SMART Recovery, support for families, sober living, treatment and medications — using only "
    "vetted public sources, and it shows you where each answer comes from.\n\n"
    "It is **not a clinician** and **not for emergencies**: it can't diagnose, advise on doses or replace "
    "care. If you or someone else may be in danger, use the help lines at the top of the page now."
)

FEEDBACK_NOTICE = (
    "Rating an answer saves that one question, the answer and its sources (no name, no other messages) so "
    "staff can improve the guide. Nothing else about your conversation is stored."
)

ERROR_TEXT = (
    "Sorry — something went wrong on our side and I couldn't answer that just now. Please try again in a "
    "moment. If you need to talk to someone now, the help lines below are free and open 24/7."
)

THINKING = "Looking through the vetted guides…"

#: What each stage of an index build is doing, in words (the chat page's progress bar and `guide app`'s terminal).
BUILD_STAGES = {
    "embedding": "Indexing the vetted guides",
    "sentences": "Preparing answer sentences",
    "multilingual": "Preparing search in other languages",
}


def escape_markdown(text: str) -> str:
    """User text → Markdown that renders exactly as typed (no links, images, HTML, LaTeX or headings)."""
    lines = str(text).replace("\r\n", "\n").replace("\r", "\n").split("\n")
    out = []
    for line in lines:
        line = _MD_INLINE.sub(r"\\\1", line.strip())
        out.append(_MD_LINE_START.sub(lambda m: f"{m[1]}\\{m[2]}" if m[1] else f"\\{m[3]}", line, count=1))
    return "  \n".join(out)


def user_markdown(text: str) -> str:
    return escape_markdown(text) or "\u00a0"


def safe_url(url: str | None, schemes: tuple[str, ...] = ("https:",)) -> str | None:
    """The URL if it uses an allowed scheme and has no characters that could break out of an attribute."""
    if not url:
        return None
    url = url.strip()
    if not url.lower().startswith(schemes) or any(ch in url for ch in "\"'<> \n\t`"):
        return None
    return url


def citation_label(c: Citation) -> str:
    """"Title › Section" (the section path already starts with the title when chunking kept it)."""
    section = (c.section or "").strip()
    if not section or section == c.title:
        return c.title
    if section.startswith(c.title):
        return section
    return f"{c.title} › {section}"


def citation_markdown(c: Citation) -> str:
    """One numbered source line: **[n]** Title › Section — original source (link)."""
    label = escape_markdown(citation_label(c))
    url = safe_url(c.url, ("https:", "http:"))
    link = f" — [original source](<{url}>)" if url else ""
    return f"**\\[{c.n}\\]** {label}{link}"


def quote_markdown(c: Citation) -> str:
    """The vetted passage used for a citation, as an escaped block quote."""
    lines = [escape_markdown(line) for line in c.quote.strip().splitlines() if line.strip()]
    return "\n>\n".join(f"> {line}" for line in lines) or "> (no passage text)"


# ------------------------------------------------------------------------------------------ resources
@dataclass(frozen=True)
class Action:
    """A tap target for a resource: call, text or open its website."""

    kind: str  # "call" | "text" | "web"
    label: str
    href: str


def _digits(uri: str) -> str:
    return uri.split(":", 1)[1].split("?", 1)[0]


def resource_actions(r: Resource) -> tuple[Action, ...]:
    actions = []
    tel = safe_url(r.tel, ("tel:",))
    if tel:
        actions.append(Action("call", f"Call {r.phone or _digits(tel)}", tel))
    sms = safe_url(r.sms, ("sms:",))
    if sms:
        number = _digits(sms)
        href = f"{sms}?body={quote(r.sms_body)}" if r.sms_body else sms
        label = f"Text {r.sms_body} to {number}" if r.sms_body else f"Text {number}"
        actions.append(Action("text", label, href))
    web = safe_url(r.url)
    if web:
        actions.append(Action("web", "Website", web))
    return tuple(actions)


def _is_emergency(r: Resource) -> bool:
    """911 / 999: the resource whose name is its own number."""
    return bool(r.phone) and r.name.strip() == r.phone.strip()


def _link(action: Action, css: str, text: str | None = None) -> str:
    target = ' target="_blank" rel="noopener noreferrer"' if action.kind == "web" else ""
    return (f'<a class="{css} rg-{action.kind}" href="{html.escape(action.href, quote=True)}"{target}>'
            f"{html.escape(text or action.label)}</a>")


def banner_items(resources: Sequence[Resource]) -> list[tuple[str, Action | None]]:
    """(text, link) pairs for the always-visible line: the crisis line, the emergency number, the helpline."""
    items: list[tuple[str, Action | None]] = []
    for i, r in enumerate(resources):
        acts = {a.kind: a for a in resource_actions(r)}
        call = acts.get("call")
        if _is_emergency(r):
            items.append((f"Emergency {r.phone}", call))
        elif i == 0 and call and "text" in acts and _digits(acts["text"].href) == _digits(call.href):
            items.append((f"Call or text {r.phone}", call))
        elif call:
            items.append((r.name if r.phone and r.phone in r.name else f"{r.name} {r.phone}", call))
        else:
            items.append((r.name, acts.get("web")))
    return items


def help_banner_html(resources: Sequence[Resource]) -> str:
    """The header line shown on every page: "In crisis? Call or text 988 · Emergency 911 · SAMHSA …"."""
    parts = []
    for text, action in banner_items(resources):
        parts.append(_link(action, "rg-banner-link", text) if action else html.escape(text))
    body = ' <span aria-hidden="true">·</span> '.join(parts)
    return (f'<div class="rg-banner" role="region" aria-label="Crisis help lines">'
            f"<strong>In crisis?</strong> {body}</div>")


def _template_html(text: str) -> str:
    """A fixed template (plain text with "- " bullets) → paragraphs and a list, every line escaped."""
    out: list[str] = []
    items: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("- "):
            items.append(f"<li>{html.escape(line[2:])}</li>")
            continue
        if items:
            out.append("<ul>" + "".join(items) + "</ul>")
            items = []
        if line:
            out.append(f"<p>{html.escape(line)}</p>")
    if items:
        out.append("<ul>" + "".join(items) + "</ul>")
    return "".join(out)


def _resource_rows(resources: Sequence[Resource]) -> str:
    rows = []
    for r in resources:
        actions = resource_actions(r)
        buttons = "".join(_link(a, "rg-btn") for a in actions if a.kind != "web")
        web = "".join(_link(a, "rg-weblink", "website") for a in actions if a.kind == "web")
        hours = f' <span class="rg-hours">{html.escape(r.hours)}</span>' if r.hours else ""
        web = f' <span class="rg-hours">·</span> {web}' if web else ""
        rows.append(f'<div class="rg-res"><div class="rg-res-name">{html.escape(r.name)}{hours}{web}</div>'
                    f'<div class="rg-actions">{buttons}</div></div>')
    return "".join(rows)


def crisis_card_html(text: str, resources: Sequence[Resource]) -> str:
    """The unmissable card for a crisis turn: the safety layer's fixed template, then tap-to-call/text buttons."""
    return (f'<section class="rg-card" role="alert" aria-label="Crisis support" data-testid="rg-crisis-card">'
            f'<h3 class="rg-card-title">Help is available right now</h3>'
            f"{_template_html(text)}{_resource_rows(resources)}</section>")


def pinned_html(resources: Sequence[Resource]) -> str:
    """The compact card pinned at the top of a conversation (and of each later reply) after a crisis turn."""
    return (f'<section class="rg-pinned" role="region" aria-label="Help lines for this conversation" '
            f'data-testid="rg-pinned"><p class="rg-pinned-title"><strong>Help is here any time</strong> — '
            f"free, confidential, 24/7:</p>{_resource_rows(resources)}</section>")


def pinned_line_html(resources: Sequence[Resource]) -> str:
    """The compact reminder at the top of each reply after a crisis turn: one row of tap targets."""
    actions = {a.href: a for r in resources for a in resource_actions(r) if a.kind != "web"}  # 988 twice → once
    buttons = "".join(_link(a, "rg-btn") for a in actions.values())
    return (f'<div class="rg-pinned-line" role="region" aria-label="Help lines for this conversation" '
            f'data-testid="rg-pinned-line"><p class="rg-pinned-title">Help lines, any time in this conversation:</p>'
            f'<div class="rg-actions">{buttons}</div></div>')


def resources_html(resources: Sequence[Resource], heading: str = "Help lines") -> str:
    """Help lines shown beside a caution answer, a decline or an error (not a crisis card)."""
    return (f'<section class="rg-side" role="region" aria-label="{html.escape(heading, quote=True)}">'
            f'<p class="rg-side-title"><strong>{html.escape(heading)}</strong></p>{_resource_rows(resources)}</section>')


@dataclass(frozen=True)
class ReplyParts:
    """What an assistant message shows besides its text: the pinned help line, the crisis card, the side help."""

    pinned: tuple[Resource, ...]  # the help lines a crisis turn pinned, repeated under a later answer
    card: bool  # the reply is the fixed crisis reply, shown as a card with tap-to-call buttons
    side: tuple[Resource, ...]  # help lines that came with this answer and are not pinned already


def reply_parts(answer: Answer, pinned: Sequence[Resource]) -> ReplyParts:
    """What an assistant message shows, top to bottom (the page draws exactly this)."""
    crisis = answer.route == "crisis"
    pinned_ids = {r.id for r in pinned}
    return ReplyParts(
        pinned=tuple(pinned) if (answer.pinned_crisis and not crisis and pinned) else (),
        card=crisis,
        side=tuple(r for r in answer.resources if r.id not in pinned_ids) if not crisis else (),
    )


CSS = """
<style>
div[data-testid="stElementContainer"]:has(.rg-banner){position:sticky;top:3.75rem;z-index:990}
.rg-banner{border:1px solid #e3a3a3;background:#fdeeee;color:#4a1010;border-radius:.6rem;
  padding:.45rem .8rem;margin:0;line-height:1.8;box-shadow:0 2px 6px rgba(0,0,0,.08)}
.rg-banner a{font-weight:700;color:#8e1b1b !important;text-decoration:underline}
.rg-card{border:2px solid #c62828;border-left:10px solid #c62828;background:rgba(198,40,40,.08);
  border-radius:.7rem;padding:.9rem 1rem;margin:.2rem 0 .6rem 0}
.rg-card-title{margin:0 0 .4rem 0;padding:0;font-size:1.2rem}
.rg-card p{margin:.3rem 0}
.rg-card ul{margin:.2rem 0 .5rem 0}
.rg-pinned{border:2px solid #c62828;background:rgba(198,40,40,.06);border-radius:.7rem;padding:.6rem .9rem;margin:.2rem 0 .6rem 0}
.rg-pinned-line{border-left:6px solid #c62828;padding:.3rem .7rem;margin:0 0 .6rem 0}
.rg-pinned-title,.rg-side-title{margin:0 0 .3rem 0}
.rg-side{border:1px solid rgba(120,120,120,.45);border-radius:.6rem;padding:.5rem .8rem;margin:.4rem 0}
.rg-res{margin:.45rem 0}
.rg-res-name{font-weight:600}
.rg-hours{font-weight:400;opacity:.8;font-size:.9em}
.rg-weblink{font-weight:400;font-size:.9em}
.rg-actions{display:flex;flex-wrap:wrap;gap:.4rem;margin-top:.25rem}
a.rg-btn{display:inline-flex;align-items:center;min-height:44px;padding:.35rem .9rem;border-radius:.5rem;
  border:2px solid #c62828;font-weight:600;text-decoration:none}
a.rg-btn.rg-call{background:#c62828;color:#fff !important}
a.rg-btn:focus-visible,.rg-banner a:focus-visible,a.rg-weblink:focus-visible{outline:3px solid #1565c0;outline-offset:2px}
</style>
"""


def answer_markdown(text: str) -> str:
    """Answer text (vetted corpus sentences) for st.markdown: `$` and `~` would otherwise become LaTeX / strikethrough."""
    return text.replace("\\$", "$").replace("$", "\\$").replace("~", "\\~")


def word_pieces(text: str, size: int = 4) -> list[str]:
    """The answer in pieces of a few words, spaces kept, for the word-by-word display: they join back to `text`."""
    words = text.split(" ")
    return [" ".join(words[i:i + size]) + (" " if i + size < len(words) else "") for i in range(0, len(words), size)]
