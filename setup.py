"""Kept for the layout the design card names; the package's metadata is pyproject.toml's."""

from setuptools import setup

setup()
