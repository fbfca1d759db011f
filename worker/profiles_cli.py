"""``docintake profiles``: import customers from CSV, show one customer with its history."""

from __future__ import annotations

import csv
import json
import multiprocessing
import os
import sys
import unicodedata
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from forms.identity import mask_code, national_id, parse_national_id
from forms.schema import FIELD_NAMES, FIELDS_BY_NAME, FORM_ID, FORM_VERSION
from intake.store.db import session_scope, store_command
from worker.profiles import SqlProfileStore

REQUIRED_COLUMNS = ("id_country", "personal_code")
#: How many bad rows are listed before the rest are only counted.
MAX_LISTED_ERRORS = 100
#: Rows per unit of work when checking; files with more rows are checked by several processes.
_CHUNK_ROWS = 5000
_MAX_WORKERS = 8
_TRUE = {"1", "true", "yes", "on", "x", "checked"}
_FALSE = {"0", "false", "no", "off"}


@click.group()
def profiles() -> None:
    """Customer profiles: import them from CSV, show one with its history."""


@dataclass
class CsvCheck:
    """A CSV file read and validated: the rows to import, or the problems with line numbers."""

    rows: list[tuple[str, dict[str, Any]]]
    errors: list[str]


def read_profiles_csv(path: Path, *, progress: bool = False) -> CsvCheck:
    """Read and validate every row (forms.rules, as for a signed form) before anything is written.

    The header names FORM.md fields; ``id_country`` and ``personal_code`` are required, other
    columns optional, unknown columns refused. An empty cell means "not given" (the profile keeps
    its value). Checkbox columns take true/false, yes/no, 1/0.
    """
    with path.open(newline="", encoding="utf-8-sig") as fh:
        sample = fh.read(64 * 1024)
        fh.seek(0)
        try:
            dialect: Any = csv.Sniffer().sniff(sample.splitlines()[0] if sample else "", delimiters=",;\t")
        except csv.Error:
            dialect = csv.excel
        reader = csv.reader(fh, dialect)
        header = next(reader, None)
        if header is None:
            return CsvCheck([], ["line 1: the file is empty; it needs a header row of field names"])
        columns = [unicodedata.normalize("NFC", h).strip() for h in header]
        header_errors = _header_errors(columns)
        if header_errors:
            return CsvCheck([], header_errors)
        records = []
        line = reader.line_num + 1
        for record in reader:
            records.append((line, record))
            line = reader.line_num + 1
    return _check_records(columns, records, progress)


def _header_errors(columns: list[str]) -> list[str]:
    errors = []
    unknown = [c for c in columns if c not in FIELDS_BY_NAME]
    if unknown:
        errors.append(f"line 1: unknown column(s) {', '.join(map(repr, unknown))}; "
                      f"the columns are the form's field names ({', '.join(FIELD_NAMES)})")
    repeated = sorted({c for c in columns if columns.count(c) > 1})
    if repeated:
        errors.append(f"line 1: column(s) given twice: {', '.join(repeated)}")
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        errors.append(f"line 1: required column(s) missing: {', '.join(missing)}")
    return errors


def _check_records(columns: list[str], records: list[tuple[int, list[str]]], progress: bool) -> CsvCheck:
    """Check every record (in worker processes when there are many), then find repeated customers."""
    from tqdm import tqdm

    chunks = [records[i:i + _CHUNK_ROWS] for i in range(0, len(records), _CHUNK_ROWS)]
    workers = min(os.cpu_count() or 1, _MAX_WORKERS, len(chunks))
    with tqdm(total=len(records), desc="checking", unit=" rows", disable=not progress, leave=False) as bar:
        if workers > 1:
            ctx = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else None)
            # a forked child drops the parent's pooled connections by itself (intake.store.db)
            with ProcessPoolExecutor(workers, mp_context=ctx) as pool:
                checked = []
                for part in pool.map(_check_chunk, [columns] * len(chunks), chunks):
                    checked.extend(part)
                    bar.update(len(part))
        else:
            checked = []
            for chunk in chunks:
                checked.extend(_check_chunk(columns, chunk))
                bar.update(len(chunk))
    rows: list[tuple[str, dict[str, Any]]] = []
    errors: list[str] = []
    seen: dict[str, int] = {}
    for line, outcome in checked:
        if isinstance(outcome, list):
            errors.extend(f"line {line}: {message}" for message in outcome)
            continue
        if outcome is None:
            continue  # a blank line
        nid, stored = outcome
        if nid in seen:
            errors.append(f"line {line}: the customer of line {seen[nid]} again ({stored['id_country']} "
                          f"{mask_code(stored['personal_code'])})")
            continue
        seen[nid] = line
        rows.append((nid, stored))
    return CsvCheck(rows, errors)


def _check_chunk(columns: list[str], records: list[tuple[int, list[str]]]) -> list[tuple[int, Any]]:
    return [(line, _check_record(columns, record)) for line, record in records]


def _check_record(columns: list[str], record: list[str]) -> tuple[str, dict[str, Any]] | list[str] | None:
    """``(national_id, stored values)``, or the problems (messages), or None for a blank line."""
    from forms.extract import Extraction
    from forms.rules import check_form

    if not any(cell.strip() for cell in record):
        return None
    if len(record) != len(columns):
        return [f"{len(record)} values for {len(columns)} columns"]
    given: dict[str, Any] = {}
    problems = []
    for name, cell in zip(columns, record):
        text = unicodedata.normalize("NFC", cell).strip()
        if not text:
            continue
        if FIELDS_BY_NAME[name].kind == "checkbox":
            flag = text.lower()
            if flag not in _TRUE | _FALSE:
                problems.append(f"{name}: must be true or false")
                continue
            given[name] = flag in _TRUE
        else:
            given[name] = text
    problems += [f"{name}: is required" for name in REQUIRED_COLUMNS if name not in given]
    values = {name: given.get(name) for name in FIELD_NAMES}
    result = check_form(Extraction(FORM_ID, FORM_VERSION, {}, values))
    # Only the values this row gives are judged; an absent one keeps the profile's own.
    problems += [p.message for p in result.problems if p.field in given]
    if problems:
        return problems
    stored = {name: result.values[name] for name in given}
    return national_id(stored["id_country"], stored["personal_code"]), stored


@profiles.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Check the file only; write nothing.")
@store_command
def import_command(settings, file: Path, dry_run: bool) -> None:
    """Create or update customer profiles from a CSV file (header: the form's field names).

    Every row is checked with the form's own rules first; if any row is bad, the lines are
    listed and nothing is imported. Existing customers keep a history row (source "import").
    """
    from tqdm import tqdm

    progress = sys.stderr.isatty()
    checked = read_profiles_csv(file, progress=progress)
    if checked.errors:
        for message in checked.errors[:MAX_LISTED_ERRORS]:
            click.echo(f"{file}: {message}", err=True)
        more = len(checked.errors) - MAX_LISTED_ERRORS
        if more > 0:
            click.echo(f"{file}: ... and {more} more problems", err=True)
        raise click.ClickException(f"{len(checked.errors)} problem(s) in {file}; nothing was imported")
    if dry_run:
        click.echo(f"{len(checked.rows)} rows are fine; nothing was imported (--dry-run)")
        return
    with tqdm(total=len(checked.rows), desc="importing", unit=" rows", disable=not progress, leave=False) as bar:
        with session_scope(settings) as session:
            result = SqlProfileStore().import_rows(session, checked.rows, progress=bar)
    click.echo(f"imported {result.total} rows: {result.created} new, {result.updated} updated, "
               f"{result.unchanged} unchanged")


def _national_id_arg(ctx: click.Context, param: click.Parameter, value: str) -> str:
    try:
        return parse_national_id(value)
    except ValueError as exc:
        raise click.BadParameter(f"{exc} (write it as LV-32000012345 or LV-320000-12345)") from None


@profiles.command("show")
@click.argument("national_id", metavar="NATIONAL_ID", callback=_national_id_arg)
@click.option("--json", "as_json", is_flag=True, help="Print JSON: national_id, fields, signed_at, history.")
@store_command
def show_command(settings, national_id: str, as_json: bool) -> None:
    """Show a customer's profile and its history (NATIONAL_ID like LV-32000012345)."""
    store = SqlProfileStore()
    with session_scope(settings) as session:
        view = store.get(session, national_id)
        history = store.history(session, national_id) if view else []
    if view is None:
        raise click.ClickException(f"no customer profile for {national_id}")
    document = {"national_id": view.national_id, "fields": view.fields,
                "signed_at": view.to_json()["signed_at"], "history": [c.to_json() for c in history]}
    if as_json:
        click.echo(json.dumps(document, ensure_ascii=False, indent=2))
        return
    click.echo(f"{view.national_id}  (version {view.version}, last signed {document['signed_at'] or 'never'})")
    order = {name: i for i, name in enumerate(FIELD_NAMES)}
    for name in sorted(view.fields, key=lambda n: (order.get(n, len(order)), n)):
        click.echo(f"  {name:28} {_text(view.fields[name])}")
    click.echo("history:")
    for change in history:
        changed = sorted(k for k in set(change.before) | set(change.after)
                         if change.before.get(k) != change.after.get(k))
        origin = f" submission {change.submission_id}" if change.submission_id is not None else ""
        sha = f" sha256 {change.document_sha256[:12]}" if change.document_sha256 else ""
        click.echo(f"  {change.applied_at:%Y-%m-%d %H:%M:%S} {change.source}{origin}{sha}: "
                   f"{', '.join(changed) or 'no change'}")


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)
