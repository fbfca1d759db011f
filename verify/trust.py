"""Where trust comes from: the EU trusted lists (a verified snapshot on disk) and explicit roots.

A snapshot is a directory (``trust-lists/`` in the data directory)::

    lotl.xml              the list of the lists, as fetched or imported
    lotl-signers.pem      pinned LOTL signer certificates (absent: pyHanko's bundled EU ones)
    lists/<TERRITORY>.xml the national trusted lists the LOTL points to
    snapshot.json         what was loaded: territory, URL, sequence number, issue date, next update

Reading a snapshot verifies every XML signature again (the LOTL with the pinned signers, each
national list with the certificates the LOTL names for it), so a file changed on disk is not
trusted. pyHanko parses the lists (:mod:`pyhanko.sign.validation.qualified`): the qualified CA
(``CA/QC``) and time-stamping (``TSA/QTST``) services become trust anchors, and its
qualification assessor judges the signer's certificate against them.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from asn1crypto import x509 as asn1_x509

#: Countries trusted by default (FORM.md: the customers' countries).
DEFAULT_COUNTRIES: tuple[str, ...] = ("LV", "LT", "EE")
#: Service types read from the lists, by their short names.
SERVICE_TYPES = {
    "CA/QC": "http://uri.etsi.org/TrstSvc/Svctype/CA/QC",
    "TSA/QTST": "http://uri.etsi.org/TrstSvc/Svctype/TSA/QTST",
}
DEFAULT_SERVICE_TYPES: tuple[str, ...] = tuple(SERVICE_TYPES)
SNAPSHOT_FILE = "snapshot.json"
_TSL_NS = "http://uri.etsi.org/02231/v2#"


class TrustError(ValueError):
    """A trusted list cannot be read, verified or stored."""


@dataclass(frozen=True)
class ListInfo:
    """One list of a snapshot, as ``docintake trust status`` shows it."""

    territory: str
    url: str
    file: str
    sequence: int | None
    issued: _dt.datetime | None
    next_update: _dt.datetime | None

    def stale(self, now: _dt.datetime | None = None) -> bool:
        now = now or _dt.datetime.now(_dt.timezone.utc)
        return self.next_update is not None and self.next_update < now

    def to_json(self) -> dict:
        return {
            "territory": self.territory, "url": self.url, "file": self.file, "sequence": self.sequence,
            "issued": self.issued.isoformat() if self.issued else None,
            "next_update": self.next_update.isoformat() if self.next_update else None,
        }

    @classmethod
    def from_json(cls, d: dict) -> "ListInfo":
        def when(v):
            return _dt.datetime.fromisoformat(v) if v else None

        return cls(d["territory"], d.get("url", ""), d["file"], d.get("sequence"), when(d.get("issued")),
                   when(d.get("next_update")))


@dataclass(frozen=True)
class TrustedLists:
    """A verified snapshot: pyHanko's TSP registry and what each list said about itself."""

    registry: object  # pyhanko.sign.validation.qualified.tsp.TSPRegistry
    lotl: ListInfo
    lists: tuple[ListInfo, ...]
    errors: tuple[str, ...] = ()
    directory: Path | None = None

    @property
    def all_lists(self) -> tuple[ListInfo, ...]:
        return (self.lotl, *self.lists)

    def stale(self, now: _dt.datetime | None = None) -> list[ListInfo]:
        return [info for info in self.all_lists if info.stale(now)]


# ---------------------------------------------------------------------------------------------
# reading lists


def _filtering_registry(service_types: Iterable[str]):
    from pyhanko.sign.validation.qualified.tsp import TSPRegistry

    wanted = {SERVICE_TYPES.get(t, t) for t in service_types}

    class _Registry(TSPRegistry):
        """pyHanko's registry, keeping only the configured service types."""

        def register_ca(self, info):
            if info.base_info.service_type in wanted:
                super().register_ca(info)

        def register_tst(self, info):
            if info.base_info.service_type in wanted:
                super().register_tst(info)

    return _Registry()


def _country(territory: str) -> str:
    """``EE_T`` (a test list of Estonia) -> ``EE``."""
    return territory.split("_")[0].upper()


def list_info(xml: bytes | str, *, url: str = "", file: str = "") -> ListInfo:
    """Sequence number, issue date, next update and territory read from a list's scheme information."""
    from lxml import etree

    data = xml.encode("utf-8") if isinstance(xml, str) else xml
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    root = etree.fromstring(data, parser)

    def text(path: str) -> str | None:
        found = root.find(path, {"t": _TSL_NS})
        return found.text.strip() if found is not None and found.text else None

    def when(value: str | None) -> _dt.datetime | None:
        if not value:
            return None
        parsed = _dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=_dt.timezone.utc)

    seq = text("t:SchemeInformation/t:TSLSequenceNumber")
    return ListInfo(
        territory=text("t:SchemeInformation/t:SchemeTerritory") or "",
        url=url,
        file=file,
        sequence=int(seq) if seq and seq.isdigit() else None,
        issued=when(text("t:SchemeInformation/t:ListIssueDateTime")),
        next_update=when(text("t:SchemeInformation/t:NextUpdate/t:dateTime")),
    )


def lotl_signers(path: str | os.PathLike | None = None) -> list[asn1_x509.Certificate]:
    """Pinned LOTL signers: the certificates in ``path``, else the EU ones pyHanko ships."""
    if path is None:
        from pyhanko.sign.validation.qualified.eutl_parse import latest_known_lotl_tlso_certs

        return list(latest_known_lotl_tlso_certs())
    from verify.policy import load_certificates

    return load_certificates(path)


def build(lotl_xml: str, national: dict[str, str], signers: list[asn1_x509.Certificate], *,
          countries: Iterable[str] = DEFAULT_COUNTRIES, service_types: Iterable[str] = DEFAULT_SERVICE_TYPES,
          ) -> tuple[TrustedLists, dict[str, tuple[str, str]]]:
    """Verify the LOTL with ``signers`` and each national list it points to with the certificates it
    names; ``national`` maps a list's URL (or its file name) to its XML.

    Returns the lists and ``{territory: (url, xml)}`` of the lists used. A list that is missing
    or does not verify is an error of the snapshot (recorded, and its services not trusted).
    """
    from pyhanko.sign.validation.errors import SignatureValidationError
    from pyhanko.sign.validation.qualified import eutl_parse

    try:
        parsed = eutl_parse.validate_and_parse_lotl(lotl_xml, signers)
    except SignatureValidationError as exc:
        raise TrustError(f"the list of the lists does not verify with the pinned signers: {exc.failure_message}") from exc
    except Exception as exc:
        raise TrustError(f"the list of the lists cannot be read: {type(exc).__name__}: {exc}") from exc
    wanted = {c.upper() for c in countries}
    registry = _filtering_registry(service_types)
    errors = [str(e) for e in parsed.errors]
    infos: list[ListInfo] = []
    used: dict[str, tuple[str, str]] = {}
    for ref in parsed.references:
        if eutl_parse.LOTL_RULE in ref.scheme_rules or _country(ref.territory) not in wanted:
            continue
        xml = _find_list(national, ref.location_uri)
        if xml is None:
            errors.append(f"{ref.territory}: the list at {ref.location_uri} is not in the snapshot")
            continue
        try:
            _, tl_errors = eutl_parse.trust_list_to_registry(xml, ref.tlso_certs, registry)
        except Exception as exc:  # a list that does not verify is not trusted; the others still are
            errors.append(f"{ref.territory}: {getattr(exc, 'failure_message', None) or exc}")
            continue
        errors.extend(f"{ref.territory}: {e}" for e in tl_errors)
        infos.append(list_info(xml, url=ref.location_uri, file=f"lists/{ref.territory}.xml"))
        used[ref.territory] = (ref.location_uri, xml)
    lotl = list_info(lotl_xml, url="", file="lotl.xml")
    return TrustedLists(registry, lotl, tuple(infos), tuple(errors)), used


def _find_list(national: dict[str, str], url: str) -> str | None:
    """The list at ``url``: by URL, by file name, or by a file name that ends with it (a mirror that
    prefixes its files, e.g. ``libdigidocpp__EE_T.xml`` for ``.../EE_T.xml``)."""
    if url in national:
        return national[url]
    name = url.rsplit("/", 1)[-1]
    if name in national:
        return national[name]
    matches = [key for key in national if key.endswith("__" + name) or key.endswith("_" + name)]
    return national[matches[0]] if len(matches) == 1 else None


# ---------------------------------------------------------------------------------------------
# snapshots on disk


def write_snapshot(directory: str | os.PathLike, lotl_xml: str, used: dict[str, tuple[str, str]], *,
                   lotl_url: str = "", signers_pem: bytes | None = None) -> Path:
    """Replace the snapshot in ``directory`` atomically (a sibling temp dir, then a rename)."""
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".trust-", dir=directory.parent))
    try:
        (tmp / "lists").mkdir()
        (tmp / "lotl.xml").write_text(lotl_xml, encoding="utf-8")
        if signers_pem:
            (tmp / "lotl-signers.pem").write_bytes(signers_pem)
        lists = []
        for territory, (url, xml) in sorted(used.items()):
            name = f"lists/{territory}.xml"
            (tmp / name).write_text(xml, encoding="utf-8")
            lists.append(list_info(xml, url=url, file=name).to_json())
        meta = {
            "lotl": list_info(lotl_xml, url=lotl_url, file="lotl.xml").to_json(),
            "lists": lists,
            "written": _dt.datetime.now(_dt.timezone.utc).isoformat(),
        }
        (tmp / SNAPSHOT_FILE).write_text(json.dumps(meta, indent=2), encoding="utf-8")
        old = None
        if directory.exists():
            old = directory.with_name(directory.name + ".old")
            shutil.rmtree(old, ignore_errors=True)
            directory.rename(old)
        tmp.rename(directory)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _CACHE.clear()
    return directory


def snapshot_meta(directory: str | os.PathLike) -> tuple[ListInfo, list[ListInfo]]:
    """What ``snapshot.json`` says (no verification): for ``trust status``, the dashboard, /metrics."""
    meta = json.loads((Path(directory) / SNAPSHOT_FILE).read_text(encoding="utf-8"))
    return ListInfo.from_json(meta["lotl"]), [ListInfo.from_json(d) for d in meta["lists"]]


_CACHE: dict[tuple, TrustedLists] = {}
_LOCK = threading.Lock()


def load_snapshot(directory: str | os.PathLike, *, countries: Iterable[str] = DEFAULT_COUNTRIES,
                  service_types: Iterable[str] = DEFAULT_SERVICE_TYPES) -> TrustedLists:
    """Verify and parse a snapshot (cached per process while its files do not change)."""
    directory = Path(directory)
    meta_file = directory / SNAPSHOT_FILE
    if not meta_file.is_file():
        raise TrustError(f"no trusted-list snapshot in {directory} (run `docintake trust update` or `trust import`)")
    key = (str(directory.resolve()), meta_file.stat().st_mtime_ns, tuple(countries), tuple(service_types))
    with _LOCK:
        cached = _CACHE.get(key)
        if cached is not None:
            return cached
    _lotl_meta, lists_meta = snapshot_meta(directory)
    signers_file = directory / "lotl-signers.pem"
    signers = lotl_signers(signers_file if signers_file.is_file() else None)
    national = {}
    for info in lists_meta:
        national[info.url or info.file] = (directory / info.file).read_text(encoding="utf-8")
    lists, _used = build((directory / "lotl.xml").read_text(encoding="utf-8"), national, signers,
                         countries=countries, service_types=service_types)
    lists = TrustedLists(lists.registry, lists.lotl, lists.lists, lists.errors, directory)
    with _LOCK:
        _CACHE[key] = lists
    return lists


def import_lists(path: str | os.PathLike, destination: str | os.PathLike, *, lotl_signer: str | None = None,
                 countries: Iterable[str] = DEFAULT_COUNTRIES) -> TrustedLists:
    """``docintake trust import``: a LOTL XML file, or a directory with a LOTL and the national lists
    it points to (found by the file name of each pointer's URL), verified and stored as the snapshot."""
    path = Path(path)
    signers = lotl_signers(lotl_signer)
    if path.is_dir():
        candidates = sorted(p for p in path.iterdir() if p.suffix.lower() == ".xml")
        lotl_file = next((p for p in candidates if _is_lotl(p)), None)
        if lotl_file is None:
            raise TrustError(f"no list of the lists (TSLType EUlistofthelists) in {path}")
        folder = path
    else:
        lotl_file, folder = path, path.parent
    lotl_xml = lotl_file.read_text(encoding="utf-8")
    national = {p.name: p.read_text(encoding="utf-8") for p in folder.iterdir()
                if p.suffix.lower() == ".xml" and p != lotl_file}
    lists, used = build(lotl_xml, national, signers, countries=countries)
    if not used:
        raise TrustError("no national list of the configured countries could be verified: " + "; ".join(lists.errors))
    pem = Path(lotl_signer).read_bytes() if lotl_signer else None
    write_snapshot(destination, lotl_xml, used, signers_pem=pem)
    return load_snapshot(destination, countries=countries)


def _is_lotl(p: Path) -> bool:
    """A list whose own TSLType is the list of the lists (a national list also names that type in
    its pointer back to the LOTL, so a text search is not enough)."""
    from lxml import etree

    try:
        parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
        root = etree.fromstring(p.read_bytes(), parser)
        kind = root.find("t:SchemeInformation/t:TSLType", {"t": _TSL_NS})
    except Exception:
        return False
    return kind is not None and (kind.text or "").strip().endswith("EUlistofthelists")


async def _fetch_all(lotl_url: str, signers, countries) -> tuple[str, dict[str, tuple[str, str]], TrustedLists]:
    import aiohttp
    from pyhanko.sign.validation.qualified import eutl_fetch, eutl_parse

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as client:
        lotl_xml = await eutl_fetch.fetch_lotl(client, url=lotl_url)
        parsed = eutl_parse.validate_and_parse_lotl(lotl_xml, signers)
        wanted = {c.upper() for c in countries}
        national: dict[str, str] = {}
        for ref in parsed.references:
            if eutl_parse.LOTL_RULE in ref.scheme_rules or _country(ref.territory) not in wanted:
                continue
            try:
                national[ref.location_uri] = await eutl_fetch.fetch_lotl(client, url=ref.location_uri)
            except Exception:  # recorded as missing by build()
                continue
    lists, used = build(lotl_xml, national, signers, countries=countries)
    return lotl_xml, used, lists


def update_lists(destination: str | os.PathLike, *, lotl_url: str | None = None, lotl_signer: str | None = None,
                 countries: Iterable[str] = DEFAULT_COUNTRIES) -> TrustedLists:
    """``docintake trust update``: fetch the LOTL and the national lists, verify, store the snapshot."""
    import asyncio

    from pyhanko.sign.validation.qualified.eutl_fetch import EU_LOTL_LOCATION

    url = lotl_url or EU_LOTL_LOCATION
    signers = lotl_signers(lotl_signer)
    from pyhanko.sign.validation.errors import SignatureValidationError

    try:
        lotl_xml, used, lists = asyncio.run(_fetch_all(url, signers, tuple(countries)))
    except TrustError:
        raise
    except SignatureValidationError as exc:
        raise TrustError(f"the list of the lists at {url} does not verify with the pinned signers: "
                         f"{exc.failure_message}") from exc
    except Exception as exc:
        raise TrustError(f"cannot fetch the trusted lists from {url}: {type(exc).__name__}: {exc}") from exc
    if not used:
        raise TrustError("no national list of the configured countries could be verified: " + "; ".join(lists.errors))
    pem = Path(lotl_signer).read_bytes() if lotl_signer else None
    write_snapshot(destination, lotl_xml, used, lotl_url=url, signers_pem=pem)
    return load_snapshot(destination, countries=countries)


# ---------------------------------------------------------------------------------------------
# the trust manager pyHanko validates with


def trust_manager(lists: TrustedLists | None, roots: Iterable[asn1_x509.Certificate] = ()):
    """pyHanko's ``TSPTrustManager`` over the lists, also trusting explicitly configured roots.

    Being a ``TSPTrustManager`` is what makes pyHanko's AdES validation run its qualification
    assessor; a signer under an explicit root is never qualified (no service grants it).
    """
    from pyhanko.sign.validation.qualified.tsp import TSPRegistry, TSPTrustManager
    from pyhanko_certvalidator.authority import CertTrustAnchor
    from pyhanko_certvalidator.registry import SimpleTrustManager

    registry = lists.registry if lists is not None else TSPRegistry()
    explicit = SimpleTrustManager.build(trust_roots=list(roots))

    class _Manager(TSPTrustManager):
        def as_trust_anchor(self, authority):
            return super().as_trust_anchor(authority) or explicit.as_trust_anchor(authority)

        def find_potential_issuers(self, cert):
            yield from super().find_potential_issuers(cert)
            yield from explicit.find_potential_issuers(cert)

        def is_root(self, cert) -> bool:
            return explicit.is_root(cert) or any(
                a.certificate.dump() == cert.dump() for a in registry.known_certificate_authorities
                if getattr(a, "certificate", None) is not None
            )

    _ = CertTrustAnchor  # the explicit manager hands these out
    return _Manager(registry)


def trust_source(path, lists: TrustedLists | None) -> str | None:
    """``"trusted_list"`` when the path's anchor is a service on the lists, ``"trust_roots"`` when it
    is an explicitly configured root, None without a path."""
    if path is None:
        return None
    try:
        anchor = path.trust_anchor.authority
    except Exception:
        return None
    if lists is not None and anchor in set(lists.registry.known_certificate_authorities):
        return "trusted_list"
    return "trust_roots"
