"""Emergency triage: messages that describe an emergency get the fixed emergency notice first.

Rules, not a model: they are auditable, they never miss a listed pattern, and a clinic can read
them. Questions that merely mention pain ("does magnesium help back pain?") do not match.
"""

from __future__ import annotations

import re

from mgqa.normalize import fold

_I = r"(i|i'm|im|i've|ive|my|me|we|he|she|they|someone|somebody|mom|dad|child|son|daughter|wife|husband|partner|friend|baby|kid)"

EMERGENCY_PATTERNS: list[tuple[str, str]] = [
    ("chest pain", r"\b(chest|heart) (pain|pressure|tightness|is tight|hurts?|feels? (tight|heavy|crushed))|crushing (chest|pain)|pain (in|across) (my|his|her|the) chest|heart attack"),
    ("breathing", r"\b(can'?t|cannot|can not|unable to|struggling to|hard to|trouble|difficulty) (breathe|breathing|catch (my|his|her) breath)|short(ness)? of breath|not breathing|stopped breathing|gasping"),
    ("allergic reaction", r"\b(throat|tongue|lips?|face) (is |are )?(swelling|swollen|closing)|anaphyla|allergic reaction|hives all over"),
    ("stroke", r"\bstroke\b|face (is )?(droop|drooping)|drooping face|slurr(ed|ing) (speech|words)|(can'?t|cannot) (move|feel) (my|his|her) (arm|leg|face)|one side of (my|his|her) (body|face)|sudden(ly)? (numb|weak|confus)"
              r"|(can'?t|cannot|unable to) (lift|raise|move) (my|his|her|their) (right |left )?(arm|leg|hand)"
              r"|talking (funny|strange|weird|gibberish)|speech (is )?(slurred|garbled)|trouble (speaking|talking)"),
    ("overdose", r"\boverdos(e|ed|ing)\b.*\b(i|my|he|she|took|just)\b|\b" + _I + r"\b.*\b(took|taken|swallowed|ate|drank)\b.*\b(whole|entire|all|too many|too much|bottle|handful|dozens?|\d{2,} (pills|tablets|capsules))|poison(ed|ing)"),
    ("suicide", r"\b(kill|hurt|harm) (myself|himself|herself)|suicid|\bend(ing)? (it all|(my|his|her|their) (own )?life)|take (my|his|her) own life|want to die|wanna die|don'?t want to (live|be alive)|self[- ]harm|better off dead"),
    ("seizure", r"\bseizures?\b.*\b(now|having|right now|won'?t stop|started)|\b(having|has|had) a (seizure|fit)\b|convuls|fitting\b"),
    ("unconscious", r"\bunconscious|unresponsive|won'?t wake( up)?|can'?t wake|passed out|collapsed|fainted|blacked out"),
    ("headache red flag", r"worst headache|thunderclap|headache.*stiff neck|stiff neck.*headache|sudden(ly)? (severe|terrible|excruciating) headache"),
    ("bleeding", r"\b(severe|heavy|uncontrolled|won'?t stop) bleeding|bleeding (heavily|badly|won'?t stop|a lot)|coughing (up )?blood|vomiting blood"),
    ("heart rhythm", r"\bheart (is )?(racing|pounding|beating (really )?(fast|irregular)).*(faint|dizz|pass|chest)|(faint|dizz).*heart (racing|pounding)"),
    ("emergency", r"\b(emergency|911|999|112|ambulance)\b.*\b(now|need|call|help)\b|\bdying\b"),
]
_COMPILED = [(name, re.compile(p)) for name, p in EMERGENCY_PATTERNS]
# Questions *about* a risk ("can magnesium cause an overdose?") are information, not an event.
_ABOUT = re.compile(r"^(can|could|does|do|is|are|what|how|should|will|would|which)\b.*\b(risk|cause|lead to|signs? of|symptoms? of|help|prevent|treat)\b")


def emergency_reason(question: str) -> str | None:
    """The emergency category the question describes, or None."""
    q = " ".join(fold(question).split())
    for name, pattern in _COMPILED:
        if pattern.search(q):
            if name in ("overdose", "stroke", "seizure", "heart rhythm") and _ABOUT.search(q) and not _first_person_event(q):
                continue
            return name
    return None


def _first_person_event(q: str) -> bool:
    return bool(re.search(r"\b(i|i'm|im|my|he|she|we)\b.*\b(now|just|right now|currently|having|took|is having)\b", q))
