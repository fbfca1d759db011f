"""Page images of a submitted PDF for the back office, rendered with pypdfium2 and cached on disk.

A submitted PDF is hostile input, so it is rendered in a child process with
memory and CPU limits and a wall-clock timeout; a crash or a hang there costs
one preview, never the web process. The cache is keyed by the document's
SHA-256 (``<data_dir>/cache/pages/<sha256>/``): rendered once, served many
times, and nothing about it needs invalidating.

Bounds (a 6 KB PDF of huge pages once made ten views start ten renderers using 5.9 GB):

- one render per document at a time, across threads and processes (an ``flock`` on
  ``<sha256>.lock``): the other views wait for it and then read its result;
- at most ``SLOTS`` renders at once per data directory (``flock`` slots); a view that finds
  every slot busy for ``SLOT_WAIT`` seconds says so and renders nothing (not cached: try again);
- each render: address space ``MEMORY_LIMIT``, pages drawn at most ``MAX_PIXELS`` each (the
  scale shrinks for a huge page), ``TIMEOUT`` seconds wall clock and CPU;
- a render that fails or times out is cached as such, like a success: never retried.

The images are of customers' documents, so they do not stay: an entry (and its lock file) not
rendered for ``KEEP_DAYS`` is removed by the next render that comes along (at most once per
``PRUNE_EVERY`` seconds per process), unless a view holds its lock at that moment.

Run as ``python -m intake.web.render OUT_DIR MAX_PAGES SCALE`` with the PDF on stdin.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

MAX_PAGES = 10
SCALE = 1.5  # 108 dpi: an A4 page is 893 x 1263 pixels, readable side by side with the fields
MAX_PIXELS = 4_000_000  # per page image; an A4 page at SCALE is 1.1 million
TIMEOUT = 30.0
MEMORY_LIMIT = 768 * 1024 * 1024
SLOTS = 2
SLOT_WAIT = 10.0
MANIFEST = "manifest.json"
KEEP_DAYS = 7
PRUNE_EVERY = 3600.0
_last_prune = 0.0
BUSY = "the server is busy rendering other documents; reload the page in a moment"


@dataclass(frozen=True)
class Rendered:
    directory: Path
    pages: int  # images available (at most MAX_PAGES)
    total: int  # pages in the document
    error: str | None = None

    def page_path(self, number: int) -> Path | None:
        if 1 <= number <= self.pages:
            return self.directory / f"page-{number}.png"
        return None


def cache_dir(data_dir: Path) -> Path:
    # Absolute: Flask's send_file reads a relative path from the app's package directory, so the
    # default data_dir "./var" once served intake/web/var/... (every preview a 500).
    return Path(data_dir).resolve() / "cache" / "pages"


def rendered(data_dir: Path, key: str, load_pdf) -> Rendered:
    """The page images of the document ``key`` (its SHA-256); ``load_pdf()`` gives the bytes if needed."""
    if not key or not all(c in "0123456789abcdef" for c in key):
        raise ValueError("the cache key must be a hex digest")
    root = cache_dir(data_dir)
    target = root / key
    manifest = target / MANIFEST
    if not manifest.is_file():
        root.mkdir(parents=True, exist_ok=True)
        with _flock(root / f"{key}.lock", wait=TIMEOUT + SLOT_WAIT + 5) as mine:
            if not mine:
                return Rendered(target, 0, 0, BUSY)
            if not manifest.is_file():  # not rendered by whoever held the lock before us
                with _slot(root) as slot:
                    if slot is None:
                        return Rendered(target, 0, 0, BUSY)
                    data = load_pdf()
                    if data is None:
                        return Rendered(target, 0, 0, "no document stored")
                    _render_into(data, target)
                    _prune_now_and_then(root)
    info = json.loads(manifest.read_text())
    return Rendered(target, int(info.get("pages", 0)), int(info.get("total", 0)), info.get("error"))


@contextlib.contextmanager
def _flock(path: Path, wait: float):
    """Hold an exclusive ``flock`` on ``path`` (yields True), or yield False after ``wait`` seconds."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    yield False
                    return
                time.sleep(0.05)
        yield True
    finally:
        os.close(fd)  # releases the lock


@contextlib.contextmanager
def _slot(root: Path):
    """One of ``SLOTS`` render slots (yields its number), or None after ``SLOT_WAIT`` seconds."""
    deadline = time.monotonic() + SLOT_WAIT
    while True:
        for number in range(SLOTS):
            with _flock(root / f".slot-{number}.lock", wait=0) as mine:
                if mine:
                    yield number
                    return
        if time.monotonic() >= deadline:
            yield None
            return
        time.sleep(0.05)


def _prune_now_and_then(root: Path) -> None:
    global _last_prune
    if time.monotonic() - _last_prune >= PRUNE_EVERY:
        _last_prune = time.monotonic()
        prune(root, max_age=KEEP_DAYS * 86400.0)


def prune(root: Path, *, max_age: float) -> int:
    """Remove cache entries (directory and lock file) older than ``max_age`` seconds whose lock is
    free; returns how many went. An entry's age is its manifest's, i.e. when it was rendered."""
    cutoff = time.time() - max_age
    removed = 0
    for entry in root.iterdir():
        if not entry.is_dir() or entry.name.startswith("."):
            continue
        manifest = entry / MANIFEST
        try:
            if manifest.stat().st_mtime >= cutoff:
                continue
        except FileNotFoundError:
            continue
        lock = root / f"{entry.name}.lock"
        with _flock(lock, wait=0) as mine:
            if not mine:  # a view is reading or rendering it right now
                continue
            shutil.rmtree(entry, ignore_errors=True)
            lock.unlink(missing_ok=True)
        removed += 1
    return removed


def _render_into(data: bytes, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".render-", dir=target.parent))
    try:
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "intake.web.render", str(work), str(MAX_PAGES), str(SCALE)],
                input=data, capture_output=True, timeout=TIMEOUT,
            )
            ok = proc.returncode == 0 and (work / MANIFEST).is_file()
            error = None if ok else "the document could not be rendered"
        except subprocess.TimeoutExpired:
            ok, error = False, "rendering took too long"
        if not ok:
            for child in work.iterdir():
                child.unlink()
            (work / MANIFEST).write_text(json.dumps({"pages": 0, "total": 0, "error": error}))
        try:
            os.rename(work, target)
        except OSError:  # another request rendered it first
            pass
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)


def key_for(sha256: str | None, data_id: int) -> str:
    """The cache key: the stored SHA-256, or a stable stand-in for a row without one."""
    return sha256 or hashlib.sha256(f"submission-{data_id}".encode()).hexdigest()


def _child(out_dir: str, max_pages: int, scale: float) -> int:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    resource.setrlimit(resource.RLIMIT_CPU, (int(TIMEOUT), int(TIMEOUT) + 5))
    import pypdfium2 as pdfium

    data = sys.stdin.buffer.read()
    pdf = pdfium.PdfDocument(data)
    try:
        pdf.init_forms()  # draw the customer's field values, not just the empty boxes
        total = len(pdf)
        pages = min(total, max_pages)
        images = []
        for i in range(pages):
            page = pdf[i]
            width, height = page.get_size()
            # a huge page (14400 pt square is legal) is drawn smaller, not at a gigabyte per bitmap
            fit = (MAX_PIXELS / max(width * height * scale * scale, 1.0)) ** 0.5
            image = page.render(scale=scale * min(1.0, fit), may_draw_forms=True).to_pil()
            image.save(Path(out_dir) / f"page-{i + 1}.png", format="PNG", optimize=True)
            images.append(image)
            page.close()
    finally:
        pdf.close()
    from intake.web.evidence import write_evidence

    write_evidence(data, Path(out_dir), images, max_pages, scale)  # what changed after signing, in this child
    (Path(out_dir) / MANIFEST).write_text(json.dumps({"pages": pages, "total": total, "error": None}))
    return 0


if __name__ == "__main__":  # pragma: no cover - exercised through rendered()
    sys.exit(_child(sys.argv[1], int(sys.argv[2]), float(sys.argv[3])))
