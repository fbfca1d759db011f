"""What may follow the customer's signature: validation data and document timestamps, nothing else.

FORM.md: "After it, only validation data (a DSS) and document timestamps may follow; anything
else, a second signature included, is ``modified_after_signing``."

pyHanko's default diff policy is built for "is this still the document that was signed, as far
as a viewer shows it": it clears, at level LTA_UPDATES, changes to the AcroForm's ``/DA``,
``/Q`` and ``/NeedAppearances``, to ``/Info``, to the XMP metadata, the creation of empty
invisible signature fields and orphaned objects. Those are edits, not validation data, and they
were accepted (``/DA`` and ``/NeedAppearances`` make a viewer regenerate every field appearance
with a default appearance the attacker chose).

Two checks, both per revision after the signed one:

* :data:`STRICT_DIFF_POLICY`, a pyHanko ``StandardDiffPolicy`` that explains every object a
  revision writes: the catalog may change only in ``/DSS``, ``/AcroForm`` (only its
  ``/Fields``), ``/Metadata`` (well-formed XMP), ``/Extensions`` and ``/Version``; the DSS
  (pyHanko's rigid ``DSSCompareRule``); new signature fields and filling empty ones (pyHanko
  rates a regular signature FORM_FILLING and an invisible ``/DocTimeStamp`` LTA_UPDATES;
  field value changes FORM_FILLING). The decision accepts only NONE and LTA_UPDATES from it.
* :func:`later_changes`, which says what each revision *is*: it must add or change the DSS, or
  add a document timestamp (``/SubFilter /ETSI.RFC3161``, typed ``/DocTimeStamp`` or ``/Sig``), or write
  nothing at all. ``/Info`` and XMP rewrites and orphaned objects are tolerated only as side
  effects of such a revision (Acrobat and the EU DSS tools rewrite ``/Info``'s ModDate and the
  XMP when they add LTV data or a timestamp; see ``shared/realworld/pades/dss``). A revision
  that only edits metadata, adds an empty signature field, or adds a regular signature is
  refused. The signed form values are read from the signed revision whatever follows, so the
  tolerated side effects cannot change what is applied to a profile.

:func:`later_changes` also names what changed, for the report's message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: Catalog entries a later revision may add or change (each vetted by a rule of the strict policy).
CATALOG_MAY_CHANGE = frozenset({"/AcroForm", "/DSS", "/Metadata", "/Extensions", "/Version"})
#: AcroForm entries a later revision may change: the field list (new document-timestamp fields).
ACROFORM_MAY_CHANGE = frozenset({"/Fields"})
DOC_TIMESTAMP_SUBFILTER = "/ETSI.RFC3161"
#: How many field-tree nodes we walk before giving up (a form has a few dozen).
_MAX_FIELDS = 5000


def _strict_policy():
    from pyhanko.sign.diff_analysis import (
        CatalogModificationRule,
        DocInfoRule,
        DSSCompareRule,
        FormUpdatingRule,
        GenericFieldModificationRule,
        MetadataUpdateRule,
        ModificationLevel,
        ObjectStreamRule,
        SigFieldCreationRule,
        SigFieldModificationRule,
        StandardDiffPolicy,
        XrefStreamRule,
    )

    lta = ModificationLevel.LTA_UPDATES

    def timestamp_aware(rule_class):
        """pyHanko's rule, with a document timestamp typed ``/Sig`` (SubFilter ``/ETSI.RFC3161``, as
        SiVa and older tools write it, often with an appearance stream on its zero-size widget)
        rated like pyHanko's own ``/DocTimeStamp``: LTA_UPDATES while invisible, which is judged by
        ``verify.fileend`` (a direct zero-area /Rect or the Hidden flag; pyHanko looks at the
        /Rect only). Only objects new in the revision are re-rated."""

        class Rule(rule_class):
            def apply(self, context):
                stamps = {
                    name for name, spec in context.field_specs.items()
                    if spec.new_field_ref and _rfc3161_value_ref(spec.new_field) is not None
                }
                for level, update in super().apply(context):
                    if (
                        level == ModificationLevel.FORM_FILLING
                        and update.field_name in stamps
                        and context.old.is_ref_unassignable(update.updated_ref)
                    ):
                        level = lta
                    yield level, update

        Rule.__name__ = f"TimestampAware{rule_class.__name__}"
        return Rule

    return StandardDiffPolicy(
        global_rules=[
            CatalogModificationRule(ignored_keys=CATALOG_MAY_CHANGE),
            DocInfoRule().as_qualified(lta),  # only as a side effect: later_changes
            XrefStreamRule().as_qualified(lta),
            ObjectStreamRule().as_qualified(lta),
            DSSCompareRule().as_qualified(lta),
            MetadataUpdateRule(check_xml_syntax=True).as_qualified(lta),
        ],
        form_rule=FormUpdatingRule(
            # GenericFieldModificationRule rates value changes FORM_FILLING (refused, but the
            # report's modification_level stays informative)
            field_rules=[
                timestamp_aware(SigFieldCreationRule)(),
                timestamp_aware(SigFieldModificationRule)(),
                GenericFieldModificationRule(),
            ],
            ignored_acroform_keys=ACROFORM_MAY_CHANGE,
        ),
        reject_object_freeing=True,
        ignore_orphaned_objects=True,  # only as a side effect: later_changes
        ignore_identical_objects=True,
    )


def _rfc3161_value_ref(sig_field):
    """The reference of an invisible field's /V when it is an RFC 3161 document timestamp, else None."""
    from pyhanko.pdf_utils import generic

    from verify.fileend import timestamp_widget_problem

    try:
        value = sig_field.raw_get("/V") if sig_field is not None and "/V" in sig_field else None
        if not isinstance(value, generic.IndirectObject) or not _is_doc_timestamp(value):
            return None
        if timestamp_widget_problem(sig_field) is not None:  # FORM.md: a direct zero /Rect or Hidden
            return None
        return value.reference
    except Exception:
        return None


class _Lazy:
    """The strict policy, built on first use (pyHanko is imported lazily by the decision)."""

    _policy = None

    def __call__(self):
        if self._policy is None:
            self._policy = _strict_policy()
        return self._policy


STRICT_DIFF_POLICY = _Lazy()


@dataclass
class _Field:
    ref: Any  # generic.Reference of the field dictionary, or None when direct
    ft: str | None
    value: Any  # the raw /V (IndirectObject or direct), or None


def _fields(resolver) -> dict[str, _Field]:
    return fields_of(resolver, _MAX_FIELDS)


def fields_of(resolver, limit: int) -> dict[str, _Field]:
    """Fully qualified field name -> field, for one revision (terminal fields and their parents);
    the walk stops after ``limit`` nodes (the caller compares the count with its limit)."""
    from pyhanko.pdf_utils import generic

    out: dict[str, _Field] = {}
    try:
        acroform = _get(resolver.root, "/AcroForm")
        top = _get(acroform, "/Fields") if isinstance(acroform, generic.DictionaryObject) else None
    except Exception:
        return out
    if not isinstance(top, generic.ArrayObject):
        return out
    stack: list[tuple[str, Any, Any, str | None]] = [("", item, None, None) for item in reversed(top)]
    seen: set = set()
    visited = 0
    while stack and visited < limit:
        visited += 1
        parent_name, item, _unused, inherited_ft = stack.pop()
        ref = item.reference if isinstance(item, generic.IndirectObject) else None
        if ref is not None:
            if ref in seen:
                continue
            seen.add(ref)
        try:
            obj = item.get_object()
        except Exception:
            continue
        if not isinstance(obj, generic.DictionaryObject):
            continue
        partial = _get(obj, "/T")
        ft = _get(obj, "/FT") or inherited_ft
        ft = str(ft) if ft is not None else None
        name = parent_name if partial is None else (f"{parent_name}.{partial}" if parent_name else str(partial))
        if partial is not None:
            out[name] = _Field(ref, ft, obj.raw_get("/V") if "/V" in obj else None)
        kids = _get(obj, "/Kids")
        if isinstance(kids, generic.ArrayObject):
            stack.extend((name, kid, None, ft) for kid in reversed(kids))
    return out


def _is_doc_timestamp(value) -> bool:
    from pyhanko.pdf_utils import generic

    try:
        sig = value.get_object()
    except Exception:
        return False
    # typed /DocTimeStamp (ISO 32000-2), or /Sig (SiVa's and older tools): the SubFilter decides
    return (
        isinstance(sig, generic.DictionaryObject)
        and _get(sig, "/Type") in ("/DocTimeStamp", "/Sig", None)
        and _get(sig, "/SubFilter") == DOC_TIMESTAMP_SUBFILTER
    )


def _get(d, key):
    """``d[key]`` dereferenced (pyHanko's ``DictionaryObject.get`` returns the raw value), or None."""
    try:
        return d[key] if key in d else None
    except Exception:
        return None


def _raw(d, key):
    try:
        return d.raw_get(key) if key in d else None
    except Exception:
        return None


def _dict_changes(old, new, allowed: frozenset[str], what: str) -> list[str]:
    out = []
    for key in sorted(set(old.keys()) | set(new.keys())):
        if key in allowed:
            continue
        before, after = _raw(old, key), _raw(new, key)
        if before == after:
            continue
        if before is None:
            out.append(f"{key} added to {what}")
        elif after is None:
            out.append(f"{key} removed from {what}")
        else:
            out.append(f"{what} {key} changed")
    return out


def _revision_changes(old, new) -> tuple[list[str], bool]:
    """``(problems, is_lta)`` for one revision: what it changes beyond the allowed, and whether it
    is a DSS or document-timestamp revision at all."""
    from pyhanko.pdf_utils import generic

    problems: list[str] = []
    written = new.explicit_refs_in_revision()
    old_root, new_root = old.root, new.root

    # the catalog
    problems += _dict_changes(old_root, new_root, CATALOG_MAY_CHANGE, "the catalog")
    dss_ref = _raw(new_root, "/DSS")
    dss_changed = _raw(old_root, "/DSS") != dss_ref or (
        isinstance(dss_ref, generic.IndirectObject) and dss_ref.reference in written
    )
    if not dss_changed and "/DSS" in new_root:
        # a DSS whose sub-structures (/Certs, /CRLs, /OCSPs, /VRI arrays) were rewritten
        try:
            dss = new_root["/DSS"]
            for key in ("/Certs", "/CRLs", "/OCSPs", "/VRI"):
                sub = _raw(dss, key)
                if isinstance(sub, generic.IndirectObject) and sub.reference in written:
                    dss_changed = True
        except Exception:
            pass

    # the AcroForm dictionary
    try:
        old_af, new_af = _get(old_root, "/AcroForm"), _get(new_root, "/AcroForm")
    except Exception:
        old_af = new_af = None
    if isinstance(old_af, generic.DictionaryObject) and isinstance(new_af, generic.DictionaryObject):
        problems += _dict_changes(old_af, new_af, ACROFORM_MAY_CHANGE, "the AcroForm")
    elif (old_af is None) != (new_af is None):
        problems.append("the AcroForm dictionary was " + ("added" if old_af is None else "removed"))

    # the fields: new ones and newly filled ones must be document timestamps, nothing else changes
    old_fields, new_fields = _fields(old), _fields(new)
    new_timestamps = 0
    for name in sorted(set(old_fields) - set(new_fields)):
        problems.append(f"field {name} removed")
    for name, f in sorted(new_fields.items()):
        before = old_fields.get(name)
        if before is not None and before.value == f.value:
            continue
        filled_now = f.value is not None and (before is None or before.value is None)
        if filled_now and f.ft == "/Sig":
            if _is_doc_timestamp(f.value):
                new_timestamps += 1
            else:
                problems.append(f"a signature was added in field {name}")
        elif before is None and f.value is None:
            problems.append(f"an empty {'signature ' if f.ft == '/Sig' else ''}field {name} was added")
        elif before is None:
            problems.append(f"field {name} was added with a value")
        else:
            problems.append(f"the value of field {name} was changed")

    is_lta = dss_changed or new_timestamps > 0
    if not is_lta and written:
        info = _raw(new.trailer_view, "/Info")
        touched = []
        if _raw(old.trailer_view, "/Info") != info or (
            isinstance(info, generic.IndirectObject) and info.reference in written
        ):
            touched.append("the document information dictionary (/Info)")
        meta = _raw(new_root, "/Metadata")
        if _raw(old_root, "/Metadata") != meta or (
            isinstance(meta, generic.IndirectObject) and meta.reference in written
        ):
            touched.append("the XMP metadata")
        if touched:
            problems.append(" and ".join(touched) + " changed without validation data or a document timestamp")
        if not problems:
            problems.append(
                f"{len(written)} object(s) written that are neither validation data (a DSS) "
                "nor a document timestamp"
            )
    return problems, is_lta


def later_changes(reader, signed_revision: int) -> str:
    """What the revisions after ``signed_revision`` change beyond validation data and document
    timestamps, as one sentence naming the first offending revision; ``""`` when nothing.

    Raises on unreadable structures (the caller fails closed).
    """
    total = reader.xrefs.total_revisions
    later = total - 1 - signed_revision
    for revision in range(signed_revision + 1, total):
        old = reader.get_historical_resolver(revision - 1)
        new = reader.get_historical_resolver(revision)
        problems, _is_lta = _revision_changes(old, new)
        if problems:
            shown = "; ".join(problems[:6]) + (f"; and {len(problems) - 6} more" if len(problems) > 6 else "")
            where = "the update after the signature" if later == 1 else (
                f"update {revision - signed_revision} of the {later} after the signature"
            )
            return f"{where}: {shown}"
    return ""
