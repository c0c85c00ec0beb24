"""eigjax: how well do SAM-family segmenters understand point prompts?"""

__version__ = "0.1.0"
