"""The apps' shared shell: warnings a user sees are one sentence each."""

import warnings

from experiments import cli


def test_a_warning_is_one_line_naming_its_file_not_a_line_of_source():
    previous = warnings.formatwarning
    try:
        cli.sentences()
        shown = warnings.formatwarning(
            "a.png: a lossy mask", UserWarning, "eigjax/data/images.py", 134, "warnings.warn("
        )
    finally:
        warnings.formatwarning = previous
    assert shown == "warning: a.png: a lossy mask\n"
