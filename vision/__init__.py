"""authcheck: offline logo and product authenticity checking.

The package is organised by pipeline stage (one module per stage, one public function each):

    load        read an image file safely                      -> RGB uint8 array
    candidates  propose logo regions in a listing photo       -> boxes
    embed       ONNX embedder                                   -> L2-normalised vectors
    index       FAISS index of a reference gallery              -> k-NN search
    match       aggregate neighbours into brand hypotheses      -> ranked brands
    verdict     turn the evidence into a verdict record
    check       the pipeline: plain calls of the stages above
    scan        bulk reader -> check -> writer, resumable

The Python API (vision.api), imported on first use so that `import vision` stays light (no torch, gradio or
ray; not even onnxruntime until a Checker is made):

    from vision import Checker
    checker = Checker("reference_gallery")          # or Checker() for the bundled demo gallery
    row = checker.check("listing.jpg")              # CheckRecord: verdict, brand, risk, reasons, ...
"""

__version__ = "0.1.0"
__all__ = ["Checker", "CheckConfig", "CheckRecord", "Gallery", "__version__"]

_LAZY = {"Checker": "api", "CheckConfig": "check", "CheckRecord": "record", "Gallery": "gallery"}


def __getattr__(name: str):
    if name in _LAZY:
        from importlib import import_module
        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'vision' has no attribute {name!r}")
