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

Nothing here imports torch or gradio; `vision.export` (torch) is only imported on demand.
"""

__version__ = "0.1.0"
