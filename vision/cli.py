"""The `authcheck` command line. Only wiring: every command is a few calls of the library's stage functions."""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from . import __version__
from .ann import FLAT_MAX, TYPES
from .errors import AuthcheckError
from .log import logger, setup_cli_logging

__all__ = ["build_parser", "main", "calibration_bar"]


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--gallery", metavar="DIR",
                   help="reference gallery (default: $AUTHCHECK_GALLERY, else ./reference_gallery, else for checks "
                        "the demo gallery that ships with the package)")
    p.add_argument("--model",
                   help="embedder name in weights/ or manifest path (default: $AUTHCHECK_MODEL or the shipped model)")
    p.add_argument("--threads", type=int, default=0, help="onnxruntime threads (0 = all cores)")
    p.add_argument("-v", "--verbose", action="count", default=0)


def _rate(text: str) -> float:
    try:
        rate = float(text)
    except ValueError:
        rate = float("nan")
    if not 0.0 < rate < 0.5:  # nan fails too
        raise argparse.ArgumentTypeError(f"{text!r} is not a share of genuine listings between 0 and 0.5 (e.g. 0.01)")
    return rate


def _flag_rate(p: argparse.ArgumentParser) -> None:
    p.add_argument("--false-flag-rate", type=_rate, default=0.02, metavar="RATE",
                   help="share of each brand's genuine listings allowed to be called suspect, which sets its "
                        "calibrated thresholds (default: %(default)s; no recalibration needed)")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="authcheck", description="Offline logo and product authenticity checker.")
    ap.add_argument("--version", action="version", version=f"authcheck {__version__}")
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("check", help="check listing photos and print verdicts")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--json", action="store_true", help="print one JSON record per image (JSON lines)")
    p.add_argument("--explain", metavar="OUT.png", help="write a picture of the evidence: listing with the matched "
                   "outline, reference, divergence heat map (with several images: a folder)")
    _common(p)
    _flag_rate(p)

    p = sub.add_parser("scan", help="check every photo under a folder into a .jsonl, .csv or .parquet file "
                                    "(parallel, resumable)")
    p.add_argument("folder", metavar="DIR")
    p.add_argument("--out", required=True, metavar="FILE",
                   help="FILE.jsonl, FILE.csv or FILE.parquet; rerunning skips files already in it")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                   help="checker processes (default: one per core, %(default)s here); 1 = in this process")
    p.add_argument("--engine", choices=("local", "ray"), default="local",
                   help="local processes, or a Ray Data pipeline (needs extra 'scale')")
    p.add_argument("--address", default=None, help="with --engine ray: the cluster to join (default: a local Ray)")
    p.add_argument("--report", default=None, metavar="FILE.html",
                   help="also write an HTML report: flagged listings first, with references and evidence")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    _common(p)
    _flag_rate(p)

    g = sub.add_parser("gallery", help="manage the reference gallery").add_subparsers(dest="gallery_command",
                                                                                     required=True, metavar="ACTION")
    p = g.add_parser("add", help="register reference images for a brand (creates the brand if new)")
    p.add_argument("brand", help="brand slug: lowercase letters, digits, '-' and '_'")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--kind", choices=["logo", "product"], default="logo")
    p.add_argument("--wordmark", help="text of the brand's wordmark, e.g. SAMSUNG ('' to clear)")
    p.add_argument("--name", help="display name, e.g. 'New Balance'")
    p.add_argument("--color", action="append", dest="colors", metavar="#RRGGBB",
                   help="registered brand colour (repeatable)")
    p.add_argument("--code-format", action="append", dest="codes", metavar="REGEX",
                   help="registered trace-code format: a regular expression a QR/DataMatrix/barcode text must match "
                        "in full, e.g. 'https://(www\\.)?nike\\.com/.+' (repeatable)")
    p.add_argument("--as-is", action="store_true",
                   help="store logo files as given (default: the logo is extracted from its background, cropped "
                        "and brought to at most 1024 px; SVG is rendered; the file is kept beside it)")
    p.add_argument("--calibrate", action="store_true",
                   help="also calibrate the brand's thresholds now (else the next check or `gallery calibrate` does)")
    _common(p)
    p = g.add_parser("calibrate", help="calibrate the divergence thresholds of new or changed brands (each kept as "
                                       "it finishes: a stopped run resumes where it was)")
    p.add_argument("--workers", type=int, default=0, help="processes (default: one per core)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    _common(p)
    p = g.add_parser("list", help="list brands and their references")
    p.add_argument("--json", action="store_true")
    _common(p)
    p = g.add_parser("remove", help="remove a brand and its references")
    p.add_argument("brand")
    _common(p)
    p = g.add_parser("verify", help="check that files, manifests and index agree (exit 1 on problems)")
    p.add_argument("--repair", action="store_true",
                   help="first rebuild what can be rebuilt from the images: leftovers, manifests, index")
    _common(p)

    i = sub.add_parser("index", help="manage the FAISS index").add_subparsers(dest="index_command", required=True,
                                                                            metavar="ACTION")
    p = i.add_parser("build", help="rebuild the gallery's index from scratch with the current embedder")
    p.add_argument("--type", choices=("auto",) + TYPES, default="auto",
                   help=f"FAISS index type (default auto: exact up to {FLAT_MAX:,} vectors, IVF beyond)")
    _common(p)

    p = sub.add_parser("report", help="one brand's report from scan results: verdict counts, common reasons, flagged "
                                      "listings as a contact sheet, risk chart (HTML)")
    p.add_argument("results", metavar="RESULTS", help="a scan output (.jsonl, .csv or .parquet)")
    p.add_argument("--brand", required=True, help="brand slug")
    p.add_argument("--out", default=None, metavar="FILE.html", help="default: <brand>-report.html")
    p.add_argument("-v", "--verbose", action="count", default=1)

    p = sub.add_parser("export-onnx", help="export an embedder to ONNX, checked against torch (needs extra 'train')")
    p.add_argument("--checkpoint", default=None, help="a trained checkpoint (python -m vision.train); default: the "
                                                      "ImageNet baseline")
    p.add_argument("--name", default="logo_lite0", help="model name for --checkpoint (default: logo_lite0)")
    p.add_argument("--no-int8", action="store_true", help="with --checkpoint: skip the int8 variant")
    p.add_argument("--grid", action="store_true", help="with --checkpoint: a grid model, which also pools a photo's "
                                                       "candidate windows from one pass (faster scans)")
    p.add_argument("--out", default=None, help="folder for the .onnx and its manifest (default: weights/)")
    p.add_argument("-v", "--verbose", action="count", default=1)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_cli_logging(args.verbose)
    try:
        return _run(args)
    except AuthcheckError as e:
        logger.error("%s", e)
        return 2
    except KeyboardInterrupt:
        logger.error("interrupted")
        return 130


def _run(args: argparse.Namespace) -> int:
    if args.command == "check":
        return _check(args)
    if args.command == "scan":
        return _scan(args)
    if args.command == "gallery":
        return _gallery(args)
    if args.command == "index":
        return _index_build(args)
    if args.command == "report":
        return _brand_report(args)
    if args.command == "export-onnx":
        out = [args.out] if args.out else []
        if args.checkpoint:
            from .train.fit import export_trained

            m = export_trained(args.checkpoint, args.name, *out, int8=not args.no_int8, grid=args.grid)
        else:
            from .train.export import export_baseline

            m = export_baseline(*out)
        logger.info("wrote %s (sha256 %s)", m.file, m.sha256)
        return 0
    raise AssertionError(args.command)


def _open(args: argparse.Namespace):
    """The check context of a `check` or `scan` command line."""
    from .calibrate import CalibrationConfig
    from .check import CheckConfig, open_context

    config = CheckConfig(calibration=CalibrationConfig(false_flag_rate=args.false_flag_rate))
    with calibration_bar(not getattr(args, "no_progress", False)) as progress:
        return open_context(args.gallery, args.model, args.threads, config=config, progress=progress)


@contextmanager
def calibration_bar(enabled: bool = True):
    """A progress callback for calibrate.calibrate_gallery: brand i of n, with its ETA (on a terminal)."""
    from tqdm import tqdm

    bar = None

    def progress(done: int, total: int, slug: str) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, unit="brand", desc="calibrate", disable=not (enabled and sys.stderr.isatty()),
                       dynamic_ncols=True)
        bar.set_postfix_str(slug, refresh=False)
        bar.update(done - bar.n)

    try:
        yield progress
    finally:
        if bar is not None:
            bar.close()


def _check(args: argparse.Namespace) -> int:
    from .scan import context_spec
    from .workers import CheckerPool

    ctx = _open(args)  # brings index and calibration up to date here, where their progress and errors are shown
    errors = 0
    # checked in a worker process under a memory and time budget: a photo that crashes or exhausts it is an
    # error row, and the remaining images are still checked
    with CheckerPool(context_spec(ctx)) as pool:
        for image in args.images:
            row, picture = pool.check(image, image, explain=bool(args.explain))
            if args.explain and picture is not None:
                _write_picture(picture, image, args.explain, several=len(args.images) > 1)
            errors += row["verdict"] == "error"
            if args.json:
                print(json.dumps(row, ensure_ascii=False), flush=True)
            else:
                what = f" {row['brand']}" if row["brand"] else ""
                risk = f" risk {row['risk']:.2f}" if row["risk"] is not None else ""
                print(f"{image}: {row['verdict'].upper()}{what}{risk}")
                for reason in row["reasons"]:
                    print(f"  - {reason}")
    return 1 if errors else 0


def _write_picture(picture, image: str, out: str, several: bool) -> None:
    from PIL import Image

    from .fsio import atomic_write_bytes

    target = Path(out) / f"{Path(image).stem}.explain.png" if several else Path(out)
    buf = io.BytesIO()
    Image.fromarray(picture).save(buf, format="PNG")
    atomic_write_bytes(target, buf.getvalue())
    logger.info("wrote %s", target)


def _scan(args: argparse.Namespace) -> int:
    ctx = _open(args)
    if args.engine == "ray":
        from .scan_ray import scan_ray

        s = scan_ray(ctx, args.folder, args.out, address=args.address, workers=args.workers,
                     progress=not args.no_progress)
    else:
        from .scan import scan

        s = scan(ctx, args.folder, args.out, progress=not args.no_progress, workers=args.workers)
    print(s.text(), file=sys.stderr)
    if args.report:
        _report(ctx, args.out, args.report)
    return 0


def _report(ctx, results: str, target: str) -> None:
    from .fsio import atomic_write_bytes
    from .report import html_report
    from .rows import read_rows
    from .scan import context_spec
    from .workers import CheckerPool

    with CheckerPool(context_spec(ctx)) as pool:  # evidence pictures check again: isolated like any check
        page = html_report(read_rows(results), f"authcheck scan: {results}", ctx.gallery.root,
                           evidence=lambda row: pool.check(row["path"], explain=True)[1])
    atomic_write_bytes(target, page.encode("utf-8"))
    logger.info("wrote %s", target)


def _brand_report(args: argparse.Namespace) -> int:
    from .brand_report import brand_report_html, contact_sheet, risk_chart, summarise
    from .fsio import atomic_write_bytes
    from .rows import read_rows

    if not Path(args.results).is_file():
        raise AuthcheckError(f"no such results file: {args.results}")
    s = summarise(read_rows(args.results), args.brand)
    if not s.counts:
        seen = sorted({r["brand"] for r in read_rows(args.results) if r.get("brand")})
        raise AuthcheckError(f"no listings of brand {args.brand!r} in {args.results}; brands there: "
                             f"{', '.join(seen) or 'none'}")
    out = Path(args.out or f"{args.brand}-report.html")
    atomic_write_bytes(out, brand_report_html(s, risk_chart(s), contact_sheet(s.flagged)).encode("utf-8"))
    counts = ", ".join(f"{v} {n}" for v, n in sorted(s.counts.items()))
    print(f"{s.name}: {sum(s.counts.values())} listings ({counts}); wrote {out}", file=sys.stderr)
    return 0


def _gallery(args: argparse.Namespace) -> int:
    from .gallery import add_references, open_gallery, remove_brand, verify_files

    cmd = args.gallery_command
    if cmd == "add":
        from .extract import ExtractConfig

        g = open_gallery(args.gallery, must_exist=False)

        def kept(k) -> None:
            print(f"{k.source}: {k.summary}")

        brand = add_references(g, args.brand, args.images, kind=args.kind, name=args.name, wordmark=args.wordmark,
                               colors=args.colors, codes=args.codes, extract=None if args.as_is else ExtractConfig(),
                               on_kept=kept)
        _update_index(g, args)
        print(f"{brand.slug}: {len(brand.references)} references")
        if args.calibrate:
            _calibrate(g, args)
        return 0
    g = open_gallery(args.gallery)
    if cmd == "calibrate":
        _calibrate(g, args)
        return 0
    if cmd == "list":
        brands = g.brands()
        if args.json:
            print(json.dumps([b.to_json() for b in brands], indent=2, ensure_ascii=False))
        else:
            for b in brands:
                kinds = {k: sum(r.kind == k for r in b.references) for k in ("logo", "product")}
                extra = f", wordmark {b.wordmark!r}" if b.wordmark else ""
                print(f"{b.slug:20s} {b.name:24s} {kinds['logo']} logos, {kinds['product']} products{extra}")
            print(f"{len(brands)} brands in {g.root}", file=sys.stderr)
        return 0
    if cmd == "remove":
        remove_brand(g, args.brand)
        _update_index(g, args)
        print(f"removed {args.brand}")
        return 0
    if cmd == "verify":
        from .embed import load_embedder
        from .repair import index_notes, leftovers, repair_gallery

        embedder = load_embedder(args.model, args.threads)
        if args.repair:
            for line in repair_gallery(g, embedder) or ["nothing to repair"]:
                print(f"REPAIRED: {line}")
        problems = verify_files(g)
        notes = [f"leftover of an interrupted change: {p.relative_to(g.root)} (--repair removes it)"
                 for p in leftovers(g)]
        try:
            notes += index_notes(g, embedder)
        except AuthcheckError as e:
            problems.append(str(e))
        for p in problems:
            print(f"PROBLEM: {p}")
        for n in notes:
            print(f"note: {n}")
        print(f"{g.root}: {'OK' if not problems else f'{len(problems)} problems'}", file=sys.stderr)
        return 1 if problems else 0
    raise AssertionError(cmd)


def _calibrate(g, args: argparse.Namespace) -> None:
    from .calibrate import CalibrationConfig, calibrate_gallery, load_thresholds

    cfg = CalibrationConfig(workers=getattr(args, "workers", 0))
    start = time.perf_counter()
    with g.locked(), calibration_bar(not getattr(args, "no_progress", False)) as progress:
        done = []
        calibrate_gallery(g, cfg, progress=lambda i, n, slug: (progress(i, n, slug), slug and done.append(slug)))
    took = time.perf_counter() - start
    print(f"calibrated {len(done)} brand{'s' * (len(done) != 1)} in {took:.0f} s" if done else
          f"every brand of {g.root} is calibrated ({len(load_thresholds(g))} brands)")


def _update_index(g, args: argparse.Namespace, rebuild: bool = False, kind: str | None = None):
    from tqdm import tqdm

    from .embed import load_embedder
    from .index import refresh_index

    embedder = load_embedder(args.model, args.threads)
    with tqdm(unit="ref", desc="index", disable=not sys.stderr.isatty(), leave=False) as bar:
        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        return refresh_index(g, embedder, rebuild, progress, kind)


def _index_build(args: argparse.Namespace) -> int:
    from .gallery import open_gallery
    from .index import index_folder

    g = open_gallery(args.gallery)
    index = _update_index(g, args, rebuild=True, kind=None if args.type == "auto" else args.type)
    print(f"rebuilt index of {g.root} for {index.embedder_id} ({len(index)} vectors, {index.kind}) in "
          f"{index_folder(g, index.embedder_id)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
