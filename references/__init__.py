"""What eigjax is checked against, for the tests and the benchmarks (never imported by
eigjax): the official PyTorch references (`official.py`) and where the shared real data
lives.

DEMO_DIR: the SA-Med2D demo slices (real CT with organ masks), `../shared/data/
sam-med2d-demo` beside the checkout, or $EIGJAX_DEMO_DATA.
"""

import os

DEMO_DIR = os.environ.get(
    "EIGJAX_DEMO_DATA",
    os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "sam-med2d-demo"),
)
