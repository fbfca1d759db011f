"""Where mails come from: a Maildir on this machine, or an IMAP folder.

Both speak one small interface (:class:`MailSource`)::

    uidvalidity = source.connect()          # (re)connect; the folder's UIDVALIDITY (None for a Maildir)
    uids = source.list_uids()               # mails in the folder not yet marked processed
    for mail in source.fetch(known_uids):   # RawMail(uid, uidvalidity, file), in batches
        with mail: ...                      # record + commit (mail.file: the raw bytes, seekable)
    source.mark_processed([uid, ...])       # ONLY after the commit
    source.close()

``known_uids`` are the UIDs (of ``list_uids()``) the database already holds for
this mailbox/folder/UIDVALIDITY. They are not fetched again; if they are still
in the folder, the process died between the commit and the move last time, so
``fetch`` marks them processed first. Nothing on the server is changed before
the database has the mail.

IMAP (imap-tools): mails are read with ``BODY.PEEK[]`` so ``\\Seen`` is never
set by reading; processed mails are MOVEd to ``processed_folder`` (created if
missing; ``/`` in its name stands for the server's hierarchy delimiter) or,
with ``after="flag"``, get the keyword ``$DocintakeProcessed`` and stay where
they are (the search then skips them). Messages flagged ``\\Deleted`` are
ignored. The source never EXPUNGEs other mails (imap-tools' ``flag()`` would,
so STORE is issued directly).

A mail is handed over as a seekable binary file, never required as one bytes value: a Maildir
message is its own file, opened; an IMAP message over ``SPOOL_OVER`` bytes (``RFC822.SIZE``) is
fetched in ``FETCH_SLICE`` partial fetches (``BODY.PEEK[]<offset.length>``) into an anonymous
temporary file; smaller ones are fetched in bulk into memory as before.

Maildir (stdlib :mod:`mailbox`): every message in ``new/``, and any in
``cur/`` without the ``S`` flag, is a candidate; its key (the file name before
``:2,``) is its UID. Processed means moved to ``cur/`` with the ``S`` flag
added (a rename, the bytes are untouched).
"""

from __future__ import annotations

import imaplib
import io
import itertools
import logging
import mailbox as stdlib_mailbox
import os
import re
import socket
import ssl
import tempfile
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Collection, Iterator, Protocol, Sequence

if TYPE_CHECKING:  # pragma: no cover
    from intake.config import Settings

log = logging.getLogger(__name__)

PROCESSED_KEYWORD = "$DocintakeProcessed"
MAILDIR_PROCESSED_FLAG = "S"


#: IMAP messages larger than this are fetched in slices into a temporary file, not in one piece.
SPOOL_OVER = 4 << 20
#: One partial fetch of a large IMAP message.
FETCH_SLICE = 4 << 20


@dataclass(frozen=True)
class RawMail:
    """One fetched message: ``file`` holds its exact bytes (seekable; readers seek to 0 first)."""

    uid: str
    uidvalidity: int | None
    file: BinaryIO

    @classmethod
    def from_bytes(cls, uid: str, uidvalidity: int | None, raw: bytes) -> "RawMail":
        return cls(uid, uidvalidity, io.BytesIO(raw))

    @property
    def raw(self) -> bytes:
        """The whole message as bytes (small mails and tests; the poller streams ``file``)."""
        self.file.seek(0)
        return self.file.read()

    def close(self) -> None:
        self.file.close()

    def __enter__(self) -> "RawMail":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


class MailSource(Protocol):
    mailbox_name: str
    folder: str

    def connect(self) -> int | None: ...

    def list_uids(self) -> list[str]: ...

    def fetch(self, known_uids: Collection[str]) -> Iterator[RawMail]: ...

    def mark_processed(self, uids: Sequence[str]) -> None: ...

    def close(self) -> None: ...


def _connection_errors() -> tuple[type[BaseException], ...]:
    from imap_tools import ImapToolsError

    return (imaplib.IMAP4.error, ImapToolsError, OSError, EOFError, ssl.SSLError, socket.timeout)


#: What a dropped or refused connection raises; the poller ends the cycle and the next one reconnects.
SOURCE_ERRORS: tuple[type[BaseException], ...] = _connection_errors()


def _chunks(items: Sequence[str], size: int) -> Iterator[list[str]]:
    size = max(1, int(size))
    for i in range(0, len(items), size):
        yield list(items[i:i + size])


# ---------------------------------------------------------------------------------------------
# Maildir


class MaildirSource:
    folder = "INBOX"

    def __init__(self, path: Path | str, *, batch: int = 50) -> None:
        self.path = Path(path)
        self.batch = batch
        self.mailbox_name = f"maildir:{self.path.resolve()}"
        self._md: stdlib_mailbox.Maildir | None = None
        self._files: dict[str, Path] = {}

    def connect(self) -> int | None:
        self._md = stdlib_mailbox.Maildir(self.path, factory=None, create=True)
        return None

    @property
    def maildir(self) -> stdlib_mailbox.Maildir:
        if self._md is None:
            self.connect()
        assert self._md is not None
        return self._md

    def _scan(self) -> dict[str, tuple[str, Path, str]]:
        """key -> (subdir, path, flags) for every message file in new/ and cur/."""
        colon = self.maildir.colon
        found: dict[str, tuple[str, Path, str]] = {}
        for sub in ("new", "cur"):
            directory = self.path / sub
            try:
                entries = list(os.scandir(directory))
            except FileNotFoundError:
                continue
            for entry in entries:
                if entry.name.startswith(".") or not entry.is_file():
                    continue
                key, _, info = entry.name.partition(colon)
                flags = info[2:] if info.startswith("2,") else ""
                found[key] = (sub, Path(entry.path), flags)
        return found

    def list_uids(self) -> list[str]:
        scan = self._scan()
        pending = {
            key: path for key, (sub, path, flags) in scan.items()
            if sub == "new" or MAILDIR_PROCESSED_FLAG not in flags
        }
        self._files = pending
        # oldest first (Maildir keys start with the delivery time)
        return sorted(pending, key=lambda k: (pending[k].stat().st_mtime if pending[k].exists() else 0, k))

    def fetch(self, known_uids: Collection[str]) -> Iterator[RawMail]:
        uids = self.list_uids()
        leftovers = [u for u in uids if u in known_uids]
        if leftovers:
            log.info("%s: %d mail(s) recorded earlier but not marked processed; marking them now",
                     self.mailbox_name, len(leftovers))
            self.mark_processed(leftovers)
        for uid in uids:
            if uid in known_uids:
                continue
            handle = self._open(uid)
            if handle is None:
                log.warning("%s: mail %s vanished before it was read", self.mailbox_name, uid)
                continue
            yield RawMail(uid=uid, uidvalidity=None, file=handle)

    def _open(self, uid: str) -> BinaryIO | None:
        """The message file, open (a rename by another client later does not matter to an open file)."""
        path = self._files.get(uid)
        if path is not None:
            try:
                return open(path, "rb")
            except FileNotFoundError:
                pass
        # moved meanwhile (by another client): look it up again
        entry = self._scan().get(uid)
        if entry is None:
            return None
        try:
            return open(entry[1], "rb")
        except FileNotFoundError:
            return None

    def mark_processed(self, uids: Sequence[str]) -> None:
        if not uids:
            return
        scan = self._scan()
        colon = self.maildir.colon
        for uid in uids:
            entry = scan.get(uid)
            if entry is None:
                log.warning("%s: mail %s is no longer there to be marked processed", self.mailbox_name, uid)
                continue
            sub, path, flags = entry
            new_flags = "".join(sorted(set(flags) | {MAILDIR_PROCESSED_FLAG}))
            target = self.path / "cur" / f"{uid}{colon}2,{new_flags}"
            if path != target:
                os.rename(path, target)
        self._fsync_dir(self.path / "cur")
        self._fsync_dir(self.path / "new")

    @staticmethod
    def _fsync_dir(directory: Path) -> None:
        try:
            fd = os.open(directory, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(fd)
        except OSError:
            pass
        finally:
            os.close(fd)

    def close(self) -> None:
        self._md = None
        self._files = {}


# ---------------------------------------------------------------------------------------------
# IMAP


def _raw_message_class():
    from imap_tools import MailMessage

    class RawMailMessage(MailMessage):
        """imap-tools' message, keeping the exact bytes the server sent (and not parsing them)."""

        def __init__(self, fetch_data: list) -> None:  # noqa: D401 - no super(): it would parse
            raw, uid_data, flag_data = self._get_message_data_parts(fetch_data)
            self._raw_uid_data = uid_data
            self._raw_flag_data = flag_data
            self.raw = raw

        @cached_property
        def obj(self):  # type: ignore[override]
            import email

            return email.message_from_bytes(self.raw)

    return RawMailMessage


class ImapSource:
    SECURITY = ("ssl", "starttls", "none")
    AFTER = ("move", "flag")

    def __init__(
        self,
        host: str,
        port: int = 0,
        user: str = "",
        password: str = "",
        folder: str = "INBOX",
        security: str = "ssl",
        processed_folder: str = "docintake/processed",
        after: str = "move",
        batch: int = 50,
        *,
        timeout: float = 60.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if security not in self.SECURITY:
            raise ValueError(f"imap security must be one of {self.SECURITY}, not {security!r}")
        if after not in self.AFTER:
            raise ValueError(f"imap after must be one of {self.AFTER}, not {after!r}")
        self.host = host
        self.port = int(port) or (993 if security == "ssl" else 143)
        self.user = user
        self.password = password
        self.folder = folder
        self.security = security
        self.processed_folder = processed_folder
        self.after = after
        self.batch = max(1, int(batch))
        self.timeout = timeout
        self.ssl_context = ssl_context
        self.mailbox_name = f"imap://{user}@{host}:{self.port}"
        self._mb = None
        self._uidvalidity: int | None = None
        self._uids: list[str] | None = None
        self._target: str | None = None
        self._caps: frozenset[str] = frozenset()

    @classmethod
    def from_settings(cls, settings: "Settings") -> "ImapSource":
        return cls(
            settings.imap_host,
            settings.imap_port,
            settings.imap_user,
            settings.imap_password,
            settings.imap_folder,
            settings.imap_security,
            settings.imap_processed_folder,
            settings.imap_after,
            settings.imap_batch,
        )

    def __repr__(self) -> str:
        return f"ImapSource({self.mailbox_name} {self.folder!r}, {self.security}, after={self.after})"

    # -- connection ------------------------------------------------------------------------
    def _new_mailbox(self):
        from imap_tools import MailBox, MailBoxStartTls, MailBoxUnencrypted

        if self.security == "ssl":
            context = self.ssl_context or ssl.create_default_context()
            return MailBox(self.host, self.port, timeout=self.timeout, ssl_context=context)
        if self.security == "starttls":
            context = self.ssl_context or ssl.create_default_context()
            return MailBoxStartTls(self.host, self.port, timeout=self.timeout, ssl_context=context)
        return MailBoxUnencrypted(self.host, self.port, timeout=self.timeout)

    def connect(self) -> int | None:
        """(Re)connect, log in, select the folder; return its UIDVALIDITY."""
        self.close()
        mb = self._new_mailbox()
        try:
            mb.email_message_class = _raw_message_class()
            mb.login(self.user, self.password, initial_folder=None)
            self._caps = self._read_capabilities(mb)
            mb.folder.set(self.folder)
            self._uidvalidity = self._read_uidvalidity(mb)
        except BaseException:
            self._drop(mb)
            raise
        self._mb = mb
        self._uids = None
        return self._uidvalidity

    @staticmethod
    def _read_capabilities(mb) -> frozenset[str]:
        """After login: servers (dovecot among them) announce MOVE, UIDPLUS... only once logged in."""
        caps = set(getattr(mb.client, "capabilities", ()) or ())
        typ, data = mb.client.capability()
        if typ == "OK":
            for item in data or ():
                if isinstance(item, bytes):
                    caps.update(item.decode("ascii", "replace").upper().split())
        return frozenset(caps)

    def _read_uidvalidity(self, mb) -> int | None:
        # SELECT's untagged "OK [UIDVALIDITY n]" is kept by imaplib under the code's name
        _typ, data = mb.client.response("UIDVALIDITY")
        for item in data or ():
            if item:
                try:
                    return int(item)
                except (TypeError, ValueError):
                    pass
        status = mb.folder.status(self.folder, ["UIDVALIDITY"])
        return status.get("UIDVALIDITY")

    @property
    def mailbox(self):
        if self._mb is None:
            self.connect()
        return self._mb

    @property
    def uidvalidity(self) -> int | None:
        return self._uidvalidity

    @staticmethod
    def _drop(mb) -> None:
        try:
            mb.logout()
        except Exception:  # noqa: BLE001 - the connection may be dead already
            try:
                mb.client.shutdown()
            except Exception:  # noqa: BLE001
                pass

    def close(self) -> None:
        if self._mb is not None:
            mb, self._mb = self._mb, None
            self._drop(mb)

    # -- reading ---------------------------------------------------------------------------
    def _criteria(self) -> str:
        if self.after == "flag":
            return f"UNDELETED UNKEYWORD {PROCESSED_KEYWORD}"
        return "UNDELETED"

    def list_uids(self) -> list[str]:
        uids = self.mailbox.uids(self._criteria(), charset=None)
        self._uids = sorted(set(uids), key=int)
        return list(self._uids)

    def fetch(self, known_uids: Collection[str]) -> Iterator[RawMail]:
        uids = self._uids if self._uids is not None else self.list_uids()
        leftovers = [u for u in uids if u in known_uids]
        if leftovers:
            log.info("%s %s: %d mail(s) recorded earlier but not marked processed; marking them now",
                     self.mailbox_name, self.folder, len(leftovers))
            self.mark_processed(leftovers)
        todo = [u for u in uids if u not in known_uids]
        for chunk in _chunks(todo, self.batch):
            sizes = self._sizes(chunk)
            # in UID order: runs of small mails in one bulk FETCH each, large ones one by one in slices
            for large, run in itertools.groupby(chunk, key=lambda u: sizes.get(u, 0) > SPOOL_OVER):
                if large:
                    for uid in run:
                        spooled = self._fetch_spooled(uid)
                        if spooled is not None:
                            yield spooled
                else:
                    yield from self._fetch_in_memory(list(run))

    def _fetch_in_memory(self, uids: list[str]) -> Iterator[RawMail]:
        bulk = len(uids) if len(uids) >= 2 else False
        for msg in self.mailbox.fetch(uid_list=uids, mark_seen=False, bulk=bulk):
            if msg.uid is None:
                log.warning("%s: a fetched message carried no UID; it is read again next cycle", self.mailbox_name)
                continue
            yield RawMail.from_bytes(msg.uid, self._uidvalidity, msg.raw)

    _SIZE = re.compile(rb"UID (\d+) RFC822\.SIZE (\d+)|RFC822\.SIZE (\d+) UID (\d+)")

    def _sizes(self, uids: Sequence[str]) -> dict[str, int]:
        """RFC822.SIZE of each UID (a UID the server does not answer for is left out: fetched as small)."""
        from imap_tools.errors import MailboxFetchError
        from imap_tools.utils import check_command_status

        result = self.mailbox.client.uid("FETCH", ",".join(uids), "(UID RFC822.SIZE)")
        check_command_status(result, MailboxFetchError)
        sizes: dict[str, int] = {}
        for item in result[1] or ():
            line = item[0] if isinstance(item, tuple) else item
            if isinstance(line, bytes) and (m := self._SIZE.search(line)):
                uid, size = (m.group(1), m.group(2)) if m.group(1) else (m.group(4), m.group(3))
                sizes[uid.decode()] = int(size)
        return sizes

    def _fetch_spooled(self, uid: str) -> RawMail | None:
        """A large message in FETCH_SLICE partial fetches, into an anonymous temporary file.

        The loop ends at the first short slice, not at RFC822.SIZE (some servers count it differently)."""
        from imap_tools.errors import MailboxFetchError
        from imap_tools.utils import check_command_status

        spool = tempfile.TemporaryFile(prefix="docintake-mail-")
        try:
            offset = 0
            while True:
                result = self.mailbox.client.uid("FETCH", uid, f"(BODY.PEEK[]<{offset}.{FETCH_SLICE}>)")
                check_command_status(result, MailboxFetchError)
                data = next((item[1] for item in result[1] or () if isinstance(item, tuple)), None)
                if data is None:
                    if offset == 0:  # gone meanwhile (expunged by another client)
                        log.warning("%s: mail %s vanished before it was read", self.mailbox_name, uid)
                        spool.close()
                        return None
                    break
                spool.write(data)
                offset += len(data)
                if len(data) < FETCH_SLICE:
                    break
            spool.seek(0)
            return RawMail(uid, self._uidvalidity, spool)
        except BaseException:
            spool.close()
            raise

    # -- marking ---------------------------------------------------------------------------
    def _delimiter(self) -> str:
        for info in self.mailbox.folder.list("", self.folder):
            if info.delim and info.delim.upper() != "NIL":
                return info.delim
        return "/"

    def processed_target(self) -> str:
        """The processed folder's name on this server (created if missing)."""
        if self._target is None:
            delim = self._delimiter()
            name = self.processed_folder.replace("/", delim) if delim != "/" else self.processed_folder
            mb = self.mailbox
            if not mb.folder.exists(name):
                from imap_tools import MailboxFolderCreateError

                try:
                    mb.folder.create(name)
                    log.info("%s: created folder %s", self.mailbox_name, name)
                except MailboxFolderCreateError:
                    if not mb.folder.exists(name):  # not a race with another client: a real refusal
                        raise
            self._target = name
        return self._target

    def _uid_command(self, *args: str) -> None:
        from imap_tools.errors import UnexpectedCommandStatusError

        result = self.mailbox.client.uid(*args)
        if result[0] != "OK":
            raise UnexpectedCommandStatusError(result, "OK")

    def mark_processed(self, uids: Sequence[str]) -> None:
        """Move (or flag) the mails; call ONLY after their submissions are committed."""
        uids = [str(u) for u in uids]
        if not uids:
            return
        if self.after == "flag":
            for chunk in _chunks(uids, self.batch):
                self._uid_command("STORE", ",".join(chunk), "+FLAGS.SILENT", f"({PROCESSED_KEYWORD})")
            return
        target = self.processed_target()
        caps = self._caps
        from imap_tools.utils import encode_folder

        for chunk in _chunks(uids, self.batch):
            uid_set = ",".join(chunk)
            if "MOVE" in caps:
                self._uid_command("MOVE", uid_set, encode_folder(target))
            else:
                self._uid_command("COPY", uid_set, encode_folder(target))
                self._uid_command("STORE", uid_set, "+FLAGS.SILENT", r"(\Deleted)")
                if "UIDPLUS" in caps:
                    self._uid_command("EXPUNGE", uid_set)
                # without UIDPLUS the copies stay \Deleted (never a blind EXPUNGE of others' mails);
                # the UNDELETED search skips them

    def __enter__(self) -> "ImapSource":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def source_from_settings(settings: "Settings") -> MailSource:
    """IMAP when ``DOCINTAKE_IMAP_HOST`` is set, otherwise the Maildir (``DOCINTAKE_MAILDIR`` or data_dir/mail)."""
    if settings.imap_host:
        return ImapSource.from_settings(settings)
    return MaildirSource(settings.resolved_maildir, batch=settings.imap_batch)


def describe(source: MailSource) -> str:
    return f"{source.mailbox_name} {source.folder}"

