"""Training, export and benchmark-data generation: never imported by the check path (tests/test_imports.py).

    fit      train the logo embedder (python -m vision.train --out runs/logo --export)
    export   ONNX export, verified against onnxruntime
    forge    counterfeit alterations of a logo (training's altered views, benchmarks, tests)
    brands   the benchmark brand split and icon pools
"""
