"""Whether what changed after a signature is allowed: the policy's rules, then what the pages show.

For one signature: the changes since its revision (:mod:`validation.modifications`),
the kinds the policy allows after a signature of its type (approval, or a
certification with DocMDP P=1, 2, 3), the field locks it and earlier
signatures set, and, when a change is not plainly allowed, the pages as a
reader sees them (:mod:`validation.visual`):

* an allowed change is allowed where it shows (a new signature's widget, a
  filled field — which may not paint over the page's own content — or an
  annotation);
* after an approval signature, a change not allowed fails the signature when
  a page shows it, and is reported at the policy's ``invisible_changes``
  level when none does;
* after a certification, a change its permission (DocMDP) does not allow
  fails whether a page shows it or not: the certifier said what may change;
* a change whose effect no page can show (actions, scripts, attachments,
  permissions, encryption) fails whenever it is not allowed;
* a change to a field an earlier signature locked (FieldMDP) fails.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pakat.rendering import TIMEOUT_SECONDS, RenderError
from validation.budget import check_time, time_left
from validation.model import Modification
from validation.modifications import AnalysisError, Change, ChangeKind, Changes
from validation.policy import PolicyRules, SignatureType
from validation.visual import PageGeometry, Region, compare_pages

#: Changes that touch no particular page are compared on every page, up to this many.
MAX_COMPARED_PAGES = 200

_LEVELS = [
    ({ChangeKind.OTHER}, Modification.OTHER),
    ({ChangeKind.ANNOTATION}, Modification.ANNOTATIONS),
    ({ChangeKind.FORM_FILLING}, Modification.FORM_FILLING),
    ({ChangeKind.SIGNATURE}, Modification.SIGNATURES),
    ({ChangeKind.EXTENSION, ChangeKind.METADATA, ChangeKind.STRUCTURE}, Modification.LTA_UPDATES),
]


@dataclass
class ModificationVerdict:
    level: Modification
    changes: list[Change]
    disallowed: list[Change] = field(default_factory=list)  # fail the signature
    invisible: list[Change] = field(default_factory=list)  # not allowed, but shown on no page
    changed_pages: list[int] = field(default_factory=list)  # 0-based, shown differently outside allowed areas
    covered_pages: list[int] = field(default_factory=list)  # a filled field paints over the page's content
    compared_visually: bool = False


@dataclass(frozen=True)
class Revisions:
    """The two documents to draw, made on demand: the signed revision and the document now."""

    files: Callable[[], tuple[Path, Path]]
    geometry: Callable[[], dict[int, tuple[tuple[float, float, float, float], int]]]
    page_count: Callable[[], int]  # pages to compare when a change touches no particular page


def judge(
    changes: Changes, rules: PolicyRules, signature: SignatureType, locked: Callable[[str], bool],
    revisions: Revisions, *, max_pages: int = MAX_COMPARED_PAGES,
) -> ModificationVerdict:
    """The verdict on ``changes`` after a signature of type ``signature``.

    ``locked(name)`` says whether field ``name`` is locked by this signature or
    an earlier one; at most ``max_pages`` pages are drawn. Raises AnalysisError
    when the pages cannot be compared, VALIDATION_TIME_EXCEEDED when drawing
    them ran out of the validation's time (:mod:`validation.budget`).
    """
    allowed = rules.allowed(signature)
    verdict = ModificationVerdict(level=_level(changes.items), changes=list(changes.items))
    regions: list[Region] = []
    unclear: list[Change] = []
    for change in changes.items:
        if change.field is not None and change.kind in (ChangeKind.FORM_FILLING, ChangeKind.OTHER) \
                and locked(change.field):
            verdict.disallowed.append(change)
        elif change.kind in allowed:
            if change.page is not None and change.rect is not None:
                regions.append(Region(change.page, change.rect, overlay=change.overlay))
        elif change.unseen_effect or signature is not SignatureType.APPROVAL:
            verdict.disallowed.append(change)
        else:
            unclear.append(change)
    needs_pages = {r.page for r in regions if r.overlay}
    for change in unclear:
        needs_pages.update([change.page] if change.page is not None else range(revisions.page_count()))
    if not needs_pages:
        return verdict
    if len(needs_pages) > max_pages:
        verdict.disallowed.extend(unclear)  # too many pages to show it shows nothing
        return verdict
    signed, final = revisions.files()
    geometry = {page: PageGeometry(box, rotate) for page, (box, rotate) in revisions.geometry().items()}
    check_time()
    try:
        # poppler gets what is left of the validation's time: a page that takes longer ends it.
        outcome = compare_pages(signed, final, sorted(needs_pages), regions, geometry,
                                timeout=time_left(TIMEOUT_SECONDS))
    except RenderError as exc:
        check_time()  # out of time: that error, not a failed analysis
        raise AnalysisError(f"the pages could not be drawn: {exc}") from None
    verdict.compared_visually = True
    verdict.changed_pages = outcome.changed_pages
    verdict.covered_pages = outcome.covered_pages
    shown = set(outcome.changed_pages)
    for change in unclear:
        if (change.page is None and shown) or change.page in shown:
            verdict.disallowed.append(change)
        else:
            verdict.invisible.append(change)
    for page in outcome.covered_pages:
        verdict.disallowed.extend(c for c in changes.items if c.overlay and c.page == page)
    return verdict


def _level(changes: Sequence[Change]) -> Modification:
    kinds = {c.kind for c in changes}
    for group, level in _LEVELS:
        if kinds & group:
            return level
    return Modification.NONE
