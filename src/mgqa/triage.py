"""Emergency triage: messages that describe an emergency get the fixed emergency notice first.

Rules, not a model: they are auditable, they never miss a listed pattern, and a clinic can read
them. Questions that merely mention pain ("does magnesium help back pain?") do not match.
"""

from __future__ import annotations

import re

from mgqa.normalize import fold

_I = r"(i|i'm|im|i've|ive|my|me|we|he|she|they|someone|somebody|mom|dad|child|son|daughter|wife|husband|partner|friend|baby|kid)"

_PILL_WORDS = r"pills?|tablets?|capsules?|gummies|meds|medicine|medication"
_PILLS = r"(" + _PILL_WORDS + r")\b"
# Now, in a pregnancy: the warning signs of pre-eclampsia, bleeding, labour too early, a baby not moving.
_PREGNANT = r"\b(i'?m|i am|im|she'?s|she is|wife is|partner is|daughter is|girlfriend is)\b.{0,20}\bpregnant\b"
_PREGNANCY_SIGNS = (r"(blurr|vision|seeing (spots|stars|flashes)|severe headache|pounding headache|bad headache"
                    r"|(face|hands|fingers|eyes)\b.{0,25}\b(swell|swollen|puffy)|(swell|swollen|puffy).{0,25}\b(face|hands|fingers|eyes)|sudden(ly)? (swell|swollen)"
                    r"|bleeding|blood|water (has )?broke|leaking fluid|contractions|(baby|it) (is not|isn'?t|hasn'?t been|stopped|has stopped) moving"
                    r"|not feeling (the )?baby|seizure|fit\b|severe (pain|cramp))")

EMERGENCY_PATTERNS: list[tuple[str, str]] = [
    ("chest pain", r"\b(chest|heart) (pain|pressure|tightness|is tight|hurts?|feels? (tight|heavy|crushed))|crushing (chest|pain)|pain (in|across) (my|his|her|the) chest|heart attack"),
    ("breathing", r"\b(can'?t|cannot|can not|unable to|struggling to|hard to|trouble|difficulty) (breathe|breathing|catch (my|his|her) breath)|short(ness)? of breath|not breathing|stopped breathing|gasping"
                  r"|\b(lips|face|skin) (are |is |have |has )?(turning|turned|gone|going) (blue|grey|gray)|\bturning blue\b"
                  r"|\b(is|am|are|i'm|im|he's|she's|they're) choking\b|\bchoking (now|right now|and (can'?t|cannot))"
                  r"|(can'?t|cannot) (get|catch) (my|his|her|a) breath"),
    ("allergic reaction", r"\b(throat|tongue|lips?|face|mouth) (is |are |feels? |keeps )?(swelling|swollen|closing|tightening)|anaphyla|allergic reaction|hives all over"
                            r"|\b(epi-?pen|adrenaline pen)\b"),
    ("stroke", r"\bstroke\b|face (is )?(droop|drooping)|drooping face|slurr(ed|ing) (speech|words)|(can'?t|cannot) (move|feel) (my|his|her) (arm|leg|face)|one side of (my|his|her) (body|face)|sudden(ly)? (numb|weak|confus)"
              r"|(can'?t|cannot|unable to) (lift|raise|move) (my|his|her|their) (right |left )?(arm|leg|hand)"
              r"|talking (funny|strange|weird|gibberish)|speech (is )?(slurred|garbled)|trouble (speaking|talking)"
              r"|(couldn'?t|can'?t|cannot) find (his|her|my|their|the) words|words (are |were )?(coming out )?(jumbled|wrong|muddled)"
              r"|\b(left|right|one) side\b.{0,25}\b(weak|numb|limp|droop|paraly)"),
    ("overdose", r"\boverdos(e|ed|ing)\b.*\b(i|my|he|she|took|just)\b|\b" + _I + r"\b.*\b(took|taken|swallowed|ate|drank)\b.*\b(whole|entire|all|too many|too much|bottle|handful|dozens?|\d{2,} (pills|tablets|capsules))|poison(ed|ing)"
                 # "swallowed like 30 magnesium pills", "took a bunch of tablets": an amount, a few words, then pills
                 r"|\b(took|taken|swallowed|ate|downed|popped)\b.{0,30}\b(\d{2,}|a bunch|bunch|lots|a lot|loads|heaps|way too many|several|double|triple)\b.{0,25}\b" + _PILLS
                 # any young child who swallowed or got into medicine: poison control, whatever the amount
                 + r"|\b(toddler|child|kid|baby|son|daughter|grandchild|little one)\b.{0,60}\b(swallowed|ate|eaten|got into|chewed|drank)\b.{0,60}\b(" + _PILL_WORDS + r"|bottle|organi[sz]er)"
                 r"|\b(going to|gonna|want to|about to) (take|swallow) (all|every one of) (my|the|of my|these)\b"),
    ("suicide", r"\b(kill|hurt|harm) (myself|himself|herself)|\b(cutting|burning) (myself|himself|herself)\b"
                r"|\b(cut|burn|burned|burnt) (myself|himself|herself) on purpose|\b(want|going|gonna|need) to (cut|burn) (myself|himself|herself)|suicid|\bend(ing)? (it all|(my|his|her|their) (own )?life)|take (my|his|her) own life|want to die|wanna die|don'?t want to (live|be alive)|self[- ]harm|better off dead"),
    ("seizure", r"\bseizures?\b.*\b(now|having|right now|won'?t stop|started)|\b(having|has|had) a (seizure|fit)\b|convuls|fitting\b|\bseizing\b"
                r"|\b(shaking|jerking|twitching) (all over|uncontrollably|and (won'?t|isn'?t|not) (respond|stop))"),
    ("unconscious", r"\bunconscious|unresponsive|won'?t wake( up)?|can'?t wake|passed out|collapsed|fainted|blacked out"
                   r"|\b(not|isn'?t|won'?t|can'?t|doesn'?t) (responding|respond|wake|waking)\b|\bout cold\b"),
    ("headache red flag", r"worst headache|thunderclap|headache.*stiff neck|stiff neck.*headache|sudden(ly)? (severe|terrible|excruciating) headache"),
    ("bleeding", r"\b(severe|heavy|uncontrolled|won'?t stop) bleeding|bleeding (heavily|badly|won'?t stop|a lot)|coughing (up )?blood|vomiting blood"
                r"|blood (is )?(everywhere|pouring|gushing|spurting)"
                r"|\b(blood|bleeding|bleed)\b.{0,80}\b(won'?t|will not|doesn'?t|does not|can'?t get it to) stop"
                r"|\bsoak(ed|ing)? (through )?(every |the |a |my |his |her )?(towels?|bandages?|cloths?|dressings?)"),
    ("heart rhythm", r"\bheart (is )?(racing|pounding|beating (really )?(fast|irregular)).*(faint|dizz|pass|chest)|(faint|dizz).*heart (racing|pounding)"),
    ("pregnancy", _PREGNANT + r".*" + _PREGNANCY_SIGNS + r"|" + _PREGNANCY_SIGNS + r".*" + _PREGNANT),
    ("emergency", r"\b(emergency|911|999|112|ambulance)\b.*\b(now|need|call|help)\b|\bdying\b"),
]
_COMPILED = [(name, re.compile(p)) for name, p in EMERGENCY_PATTERNS]
# Questions *about* a risk ("can magnesium cause an overdose?") are information, not an event.
_ABOUT = re.compile(r"^(can|could|does|do|is|are|what|how|should|will|would|which)\b.*\b(risk|cause|lead to|signs? of|symptoms? of|help|prevent|treat)\b")


# An event told as past history ("I had a stroke 3 years ago", "last year I had chest tightness")
# is background to a question, not an emergency now, unless the message also says it is happening now.
_PAST = re.compile(r"\b(years?|months?|weeks?) ago\b|\blast (year|month|week)\b"
                   r"|\bin the past\b|\bhistory of\b|\brecovered\b|\byears back\b")
_NOW = re.compile(r"\b(right now|at the moment|currently|just (now|happened|started)|tonight|this (morning|afternoon|evening)"
                  r"|minutes? ago|an? hour ago|hours? ago|is having|am having)\b")


def emergency_reason(question: str) -> str | None:
    """The emergency category the question describes, or None."""
    q = " ".join(fold(question).split())
    for name, pattern in _COMPILED:
        if pattern.search(q):
            if name in ("overdose", "stroke", "seizure", "heart rhythm") and _ABOUT.search(q) and not _first_person_event(q):
                continue
            if name != "suicide" and _PAST.search(q) and not _NOW.search(q):
                continue  # thoughts of suicide or self-harm always get the notice, however told
            return name
    return None


def _first_person_event(q: str) -> bool:
    return bool(re.search(r"\b(i|i'm|im|my|he|she|we)\b.*\b(now|just|right now|currently|having|took|is having)\b", q))
