"""authcheck reviewer web app (Gradio): check a listing photo, manage brand galleries, bulk-scan photos.

    python app.py [--gallery DIR] [--model NAME] [--port N] [--host HOST]

Port 7860 unless GRADIO_SERVER_PORT or --port says otherwise; gallery: --gallery, else $AUTHCHECK_GALLERY,
else the bundled reference_gallery/. Named API endpoints (gradio_client): /check, /register, /remove, /bulk.
This file only wires library calls (vision.*) to widgets.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import tempfile
import threading
import uuid
from contextlib import contextmanager
from functools import partial
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # offline: no telemetry calls

import gradio as gr  # noqa: E402
import pandas as pd  # noqa: E402
from gradio.utils import get_upload_folder  # noqa: E402

from vision.brand_report import brand_report_html, contact_sheet, risk_chart, summarise  # noqa: E402
from vision.check import open_context  # noqa: E402
from vision.errors import AuthcheckError  # noqa: E402
from vision.fsio import atomic_write_bytes  # noqa: E402
from vision.gallery import add_references, check_slug, open_gallery, remove_brand, slugify  # noqa: E402
from vision.index import refresh_index  # noqa: E402
from vision.record import VERDICT_COLOURS, CheckRecord  # noqa: E402
from vision.report import by_risk, html_report, thumbnail  # noqa: E402
from vision.rows import RowWriter, read_rows  # noqa: E402
from vision.scan import context_spec, scan  # noqa: E402
from vision.uploads import UploadLimits, accept_uploads  # noqa: E402
from vision.workers import CheckerPool  # noqa: E402

ROOT = Path(__file__).resolve().parent
EXAMPLES = sorted((ROOT / "examples" / "listings").glob("*.jpg"))
LIMITS = UploadLimits(max_files=500, max_file_bytes=25 * 1024 * 1024, max_total_bytes=500 * 1024 * 1024)
IMAGE_TYPES = [".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"]
LABELS = {"consistent": "CONSISTENT", "suspect": "SUSPECT", "unverified": "UNVERIFIED", "no_match": "NO MATCH",
          "error": "ERROR"}


class Gate:
    """Checks and bulk scans share the gallery; registering or removing a brand changes it alone."""

    def __init__(self):
        self._cond = threading.Condition()
        self._readers, self._writing = 0, False

    @contextmanager
    def shared(self):
        with self._cond:
            self._cond.wait_for(lambda: not self._writing)
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                self._cond.notify_all()

    @contextmanager
    def exclusive(self):
        with self._cond:
            self._cond.wait_for(lambda: not self._writing and self._readers == 0)
            self._writing = True
        try:
            yield
        finally:
            with self._cond:
                self._writing = False
                self._cond.notify_all()


class Service:
    """The loaded gallery, and the worker processes that check photos (workers.CheckerPool: a photo that crashes
    a check or runs out of its memory budget gives an error record, never a dead server); both reloaded (index
    synced, new brands calibrated) after the gallery changes."""

    def __init__(self, gallery: str | None, model: str | None, work: Path, workers: int = 1):
        self.gallery_path, self.model, self.work = gallery, model, work
        self.gate = Gate()
        self.lock = threading.Lock()  # one gallery change or bulk scan at a time
        self.ctx = open_context(gallery, model)
        self.pool = CheckerPool(context_spec(self.ctx), workers)

    def reload(self) -> None:
        self.ctx = open_context(self.gallery_path, self.model)
        self.pool.restart(context_spec(self.ctx))

    def check(self, photo: str, explain: bool = False):
        """(row, picture) of one uploaded photo, checked in a worker process."""
        with self.gate.shared():
            return self.pool.check(photo, Path(photo).name, explain)

    def uploads(self, files, dest: Path, svg: bool = False):
        paths = [f if isinstance(f, str) else f.name for f in (files or [])]
        return accept_uploads(paths, dest, LIMITS, roots=[get_upload_folder()], svg=svg)  # never other server paths


# ---- Check -------------------------------------------------------------------------------------------------------

def badge(row: dict) -> str:
    verdict = row["verdict"]
    brand = f" · {row['brand_name'] or row['brand']}" if row["brand"] else ""
    risk = f" · risk {row['risk']:.2f}" if row["risk"] is not None else ""
    return (f"<div id='verdict-badge' data-verdict='{verdict}' style='background:{VERDICT_COLOURS[verdict]};color:#fff;"
            f"padding:14px 18px;border-radius:12px;font-size:1.5em;font-weight:700'>"
            f"{LABELS[verdict]}{html.escape(brand)}{risk}</div>")


def check_photo(svc: Service, photo: str | None):
    if not photo:
        raise gr.Error("Upload or paste a listing photo first (or pick an example below).")
    row, picture = svc.check(photo, explain=True)
    reasons = "\n".join(f"- {r}" for r in row["reasons"]) or "- (no reasons)"
    cands = []
    if row["reused_reference"]:  # the brand's own product photo this listing copies: the reviewer sees it first
        thumb = thumbnail(svc.ctx.gallery.root / row["reused_reference"])
        if thumb is not None:
            cands.append((thumb, f"copied from {row['reused_reference']}"))
    for c in row["candidates"][:5]:
        thumb = thumbnail(svc.ctx.gallery.root / c["reference"])
        if thumb is not None:
            cands.append((thumb, f"{c['brand']} · similarity {c['similarity']:.2f}"))
    return badge(row), reasons, picture, cands, row


def check_api(svc: Service, photo: str | None) -> str:
    """/check: one image in, the verdict record (the row of `authcheck check --json`) out as JSON text. Text, not
    a JSON component: gradio_client would take the row's "path" key for a file to download."""
    if not photo:
        raise gr.Error("no image given")
    return json.dumps(svc.check(photo)[0], ensure_ascii=False)


# ---- Brands ------------------------------------------------------------------------------------------------------

def brand_table(svc: Service):
    g = open_gallery(svc.gallery_path)
    rows, thumbs = [], []
    for b in g.brands():
        logos = [r for r in b.references if r.kind == "logo"]
        products = len(b.references) - len(logos)
        rows.append([b.slug, b.name, b.wordmark or "", " ".join(b.colors), len(logos), products])
        thumb = thumbnail(g.ref_path(b.slug, logos[0]), 160) if logos else None
        if thumb is not None:
            thumbs.append((thumb, f"{b.name} — {len(logos)} logos, {products} products"))
    table = pd.DataFrame(rows, columns=["slug", "name", "wordmark", "colours", "logos", "products"])
    return table, thumbs, gr.update(choices=[r[0] for r in rows], value=None)


def register_brand(svc: Service, name: str, wordmark: str, colours: str, code_formats: str, logo_images,
                   product_images, progress=gr.Progress()):
    name = (name or "").strip()
    slug = slugify(name)
    try:
        check_slug(slug)
    except AuthcheckError:
        raise gr.Error("Give the brand a name with at least one letter or digit.") from None
    colour_list = [c for c in re.split(r"[,\s]+", colours or "") if c]
    code_list = [c.strip() for c in (code_formats or "").splitlines() if c.strip()]
    job = svc.work / f"register-{uuid.uuid4().hex[:8]}"
    with svc.lock, svc.gate.exclusive():
        progress(0.05, desc="checking uploads")
        got_logos = svc.uploads(logo_images, job / "logos", svg=True)
        got_products = svc.uploads(product_images, job / "products")
        rejected = got_logos.rejected + got_products.rejected
        g = open_gallery(svc.gallery_path, must_exist=False)
        is_new = slug not in g.slugs()
        before = 0 if is_new else len(g.brand(slug).references)
        if is_new and not got_logos.files:
            raise gr.Error("A new brand needs at least one logo image (PNG with transparency works best)."
                           + _rejected_text(rejected))
        try:
            progress(0.15, desc="adding references")
            kept = []  # what was extracted from each logo file, shown for the brand team to check
            brand = add_references(g, slug, got_logos.files, kind="logo", name=name, wordmark=wordmark,
                                   colors=colour_list if colour_list else None, codes=code_list or None,
                                   on_kept=kept.append)
            if got_products.files:
                brand = add_references(g, slug, got_products.files, kind="product")
            refresh_index(g, svc.ctx.embedder,
                          progress=lambda d, t: progress(0.2 + 0.5 * d / max(t, 1), desc=f"indexing {d}/{t}"))
            progress(0.75, desc="calibrating the brand's thresholds")
            svc.reload()
        except AuthcheckError as e:
            raise gr.Error(str(e)) from None
    added = len(brand.references) - before
    status = (f"**{'Registered' if is_new else 'Updated'} {name}** (`{slug}`): {added} new reference images, "
              f"{len(brand.references)} in all."
              + "".join(f"\n- {html.escape(k.source)}: {html.escape(k.summary)}" for k in kept)
              + _rejected_text(rejected))
    return (status, *brand_table(svc), [(k.picture, f"{k.source}: {k.summary}") for k in kept])


def remove(svc: Service, brand: str | None):
    if not brand:
        raise gr.Error("Choose a brand to remove.")
    with svc.lock, svc.gate.exclusive():
        try:
            g = open_gallery(svc.gallery_path)
            remove_brand(g, check_slug(brand))
            refresh_index(g, svc.ctx.embedder)
            svc.reload()
        except AuthcheckError as e:
            raise gr.Error(str(e)) from None
    return (f"Removed `{brand}`.", *brand_table(svc))


def _rejected_text(rejected) -> str:
    if not rejected:
        return ""
    return "\n\nNot accepted:\n" + "\n".join(f"- {html.escape(n)}: {why}" for n, why in rejected[:20]) + (
        f"\n- … and {len(rejected) - 20} more" if len(rejected) > 20 else "")


# ---- Bulk --------------------------------------------------------------------------------------------------------

def bulk_scan(svc: Service, photos_or_zips, progress=gr.Progress(track_tqdm=True)):
    if not photos_or_zips:
        raise gr.Error("Upload photos or a .zip of photos first.")
    job = svc.work / f"bulk-{uuid.uuid4().hex[:10]}"
    photos = job / "photos"
    got = svc.uploads(photos_or_zips, photos)
    with svc.lock, svc.gate.shared():
        if got.files:
            scan(svc.ctx, photos, job / "scan.jsonl", progress=True, pool=svc.pool)
        rows = list(read_rows(job / "scan.jsonl")) if (job / "scan.jsonl").exists() else []
        for row in rows:  # show names as uploaded, not server paths
            row["path"] = Path(row["path"]).relative_to(photos).as_posix()
        rows += [CheckRecord.error_row(name, why).to_row() for name, why in got.rejected]
        rows = by_risk(rows)
        progress(0.95, desc="writing the report")
        out = job / "results"
        for fmt in ("jsonl", "csv"):
            writer = RowWriter(out.with_suffix(f".{fmt}"))
            for row in rows:
                writer.write(row)
            writer.close()

        def evidence(row: dict):
            return svc.pool.check(photos / row["path"], row["path"], explain=True)[1]

        page = html_report(rows, "authcheck bulk report",
                           svc.ctx.gallery.root, evidence, listing_root=photos)
    atomic_write_bytes(out.with_suffix(".html"), page.encode("utf-8"))
    counts = {}
    for r in rows:
        counts[r["verdict"]] = counts.get(r["verdict"], 0) + 1
    summary = f"**{len(rows)} photos** — " + ", ".join(f"{LABELS[v].lower()}: {n}" for v, n in sorted(counts.items()))
    table = pd.DataFrame([[r["path"], r["verdict"], r.get("brand") or "",
                           "" if r.get("risk") is None else r["risk"], " | ".join(r.get("reasons") or [])]
                          for r in rows], columns=["file", "verdict", "brand", "risk", "reasons"])
    thumbs = []
    for r in rows[:48]:
        t = thumbnail(photos / r["path"], 200)
        if t is not None:
            risk = f" · {r['risk']:.2f}" if r.get("risk") is not None else ""
            thumbs.append((t, f"{r['path']}: {r['verdict']}{risk}"))
    downloads = [str(out.with_suffix(s)) for s in (".csv", ".jsonl", ".html")]
    brands = sorted({r["brand"] for r in rows if r.get("brand")})
    return summary, table, thumbs, downloads, str(job), gr.update(choices=brands, value=brands[0] if brands else None)


def brand_report(svc: Service, job: str, brand: str | None):
    """The brand-protection view of the last bulk scan: counts, common reasons, chart, flagged contact sheet."""
    if not job or not brand:
        raise gr.Error("Scan some photos first, then choose a brand.")
    job = Path(job)
    if not job.resolve().is_relative_to(svc.work.resolve()):  # the state comes from the browser
        raise gr.Error("unknown scan")
    s = summarise(read_rows(job / "results.jsonl"), brand)
    chart, sheet = risk_chart(s), contact_sheet(s.flagged, job / "photos")
    page = job / f"{slugify(brand)}-report.html"
    atomic_write_bytes(page, brand_report_html(s, chart, sheet).encode("utf-8"))
    counts = ", ".join(f"{LABELS[v].lower()}: {n}" for v, n in sorted(s.counts.items()))
    reasons = "\n".join(f"- {html.escape(p)} ({n})" for p, n in s.reasons.most_common(8))
    text = f"**{html.escape(s.name)}**: {sum(s.counts.values())} listings — {counts}" + (
        f"\n\nMost common reasons for flagging:\n{reasons}" if reasons else "")
    return text, chart, sheet, str(page)


# ---- Layout ------------------------------------------------------------------------------------------------------

def build(svc: Service) -> gr.Blocks:
    with gr.Blocks(title="authcheck", analytics_enabled=False) as demo:
        gr.Markdown("## authcheck — is this listing's logo the brand's own?")
        with gr.Tabs():
            with gr.Tab("Check", id="check"):
                with gr.Row():
                    with gr.Column(scale=2):
                        # image_mode=None: the upload reaches the checker's own loader undecoded (gradio would
                        # otherwise convert it to RGB here, in the server process, whatever its size)
                        photo = gr.Image(type="filepath", image_mode=None, label="Listing photo (upload, paste or "
                                         "drop)", sources=["upload", "clipboard"], elem_id="check-photo", height=320)
                        go = gr.Button("Check", variant="primary", elem_id="check-button")
                        if EXAMPLES:
                            gr.Examples([[str(p)] for p in EXAMPLES], inputs=photo, label="Example listings")
                    with gr.Column(scale=3):
                        verdict = gr.HTML("<div style='color:#888'>The verdict appears here.</div>",
                                          elem_id="verdict")
                        reasons = gr.Markdown(elem_id="reasons")
                        picture = gr.Image(label="Listing · matched reference · divergence map", interactive=False,
                                           elem_id="evidence", format="png")
                candidates = gr.Gallery(label="Copied product photo (if any) · top candidate references", columns=5,
                                        height=200, elem_id="candidates", object_fit="contain")
                with gr.Accordion("Verdict record (JSON)", open=False):
                    record = gr.JSON()
                go.click(partial(check_photo, svc), photo, [verdict, reasons, picture, candidates, record],
                         api_visibility="private", concurrency_limit=svc.pool.workers, concurrency_id="check")
                # a file, not an image: any upload reaches the checker's loader, which says what is wrong with it
                api_in = gr.File(visible=False, label="listing photo")
                api_out = gr.Textbox(visible=False, label="verdict record (JSON)")
                gr.Button(visible=False).click(partial(check_api, svc), api_in, api_out, api_name="check",
                                               concurrency_limit=svc.pool.workers, concurrency_id="check")

            with gr.Tab("Brands", id="brands"):
                with gr.Row():
                    with gr.Column():
                        gr.Markdown("### Register a brand (or add references to one)")
                        name = gr.Textbox(label="Brand name", placeholder="e.g. New Balance", elem_id="brand-name")
                        wordmark = gr.Textbox(label="Wordmark text (optional)", placeholder="e.g. SAMSUNG")
                        colours = gr.Textbox(label="Brand colours (optional)", placeholder="#111111, #e4002b")
                        code_formats = gr.Textbox(label="Trace-code formats (optional): one regular expression "
                                                  "per line that QR / DataMatrix / barcode texts must match", lines=2,
                                                  placeholder="https://(www\\.)?example\\.com/verify/.+")
                        logos = gr.File(label="Logo files (any background; SVG too)", file_count="multiple",
                                        file_types=IMAGE_TYPES + [".svg"])
                        products = gr.File(label="Genuine product photos (optional)", file_count="multiple",
                                           file_types=IMAGE_TYPES)
                        register = gr.Button("Register", variant="primary", elem_id="register-button")
                        status = gr.Markdown(elem_id="brand-status")
                        extracted = gr.Gallery(label="What was registered: each file, the kept box, the logo kept",
                                               columns=1, height=300, object_fit="contain", elem_id="extracted")
                        with gr.Row():
                            choice = gr.Dropdown(label="Remove a brand", choices=[], elem_id="remove-choice")
                            drop = gr.Button("Remove", variant="stop")
                    with gr.Column():
                        thumbs = gr.Gallery(label="Registered brands", columns=4, height=360, object_fit="contain")
                        table = gr.Dataframe(label="Brands", interactive=False)
                register.click(partial(register_brand, svc), [name, wordmark, colours, code_formats, logos, products],
                               [status, table, thumbs, choice, extracted], api_name="register")
                drop.click(partial(remove, svc), choice, [status, table, thumbs, choice], api_name="remove")

            with gr.Tab("Bulk", id="bulk"):
                files = gr.File(label="Listing photos, or a .zip of them", file_count="multiple",
                                file_types=IMAGE_TYPES + [".zip"], elem_id="bulk-files")
                start = gr.Button("Scan", variant="primary", elem_id="bulk-button")
                summary = gr.Markdown(elem_id="bulk-summary")
                results = gr.Dataframe(label="Results, highest risk first", interactive=False, wrap=True)
                shots = gr.Gallery(label="Highest-risk listings", columns=6, height=300, object_fit="contain")
                downloads = gr.File(label="Download CSV · JSONL · HTML report", file_count="multiple")
                with gr.Accordion("Brand report (for brand-protection teams)", open=False):
                    job = gr.State("")
                    with gr.Row():
                        report_brand = gr.Dropdown(label="Brand", choices=[], elem_id="report-brand")
                        report_go = gr.Button("Make report", elem_id="report-button")
                    report_text = gr.Markdown(elem_id="report-text")
                    report_chart = gr.Image(label="Risk scores", interactive=False)
                    report_sheet = gr.Image(label="Flagged listings", interactive=False)
                    report_file = gr.File(label="Report (HTML)")
                report_go.click(partial(brand_report, svc), [job, report_brand],
                                [report_text, report_chart, report_sheet, report_file], api_name="brand_report")
                start.click(partial(bulk_scan, svc), files, [summary, results, shots, downloads, job, report_brand],
                            api_name="bulk")
        demo.load(partial(brand_table, svc), None, [table, thumbs, choice], api_visibility="private")
    return demo


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gallery", help="gallery folder (default: $AUTHCHECK_GALLERY or reference_gallery/)")
    ap.add_argument("--model", help="embedder name in weights/ (default: the gallery index's)")
    ap.add_argument("--port", type=int, help="port (default: $GRADIO_SERVER_PORT or 7860)")
    ap.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: localhost only)")
    ap.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1),
                    help="checker processes: photos checked at once (default: one per core, at most 4: %(default)s)")
    args = ap.parse_args(argv)
    if args.workers < 1:
        ap.error("--workers must be at least 1")
    gallery = args.gallery or os.environ.get("AUTHCHECK_GALLERY") or str(ROOT / "reference_gallery")
    work = Path(tempfile.gettempdir()) / f"authcheck-app-{uuid.uuid4().hex[:8]}"
    work.mkdir(parents=True)
    svc = Service(gallery, args.model, work, args.workers)
    port = args.port or int(os.environ.get("GRADIO_SERVER_PORT", 7860))
    theme = gr.themes.Default(font=["system-ui", "sans-serif"], font_mono=["monospace"])  # no web fonts: offline
    build(svc).queue(default_concurrency_limit=1).launch(
        server_name=args.host, server_port=port, max_file_size="25mb", allowed_paths=[str(work)],
        footer_links=["api"], theme=theme)


if __name__ == "__main__":
    main()
