"""Taggers behind one interface (`Tagger`): DeepDanbooru projects (the default) and WD14 ONNX taggers.

TensorFlow and onnxruntime are imported only when a tagger of their kind is loaded.
"""

from ..world.assets import demo_tagger_path, demo_wd14_path
from .base import Tagger, labels, tag_frequencies, vocab_record
from .deepdanbooru import DeepDanbooruTagger, import_deepdanbooru, load_deepdanbooru, quiet_keras, reference_scores
from .load import load_tagger
from .wd14 import WD14Tagger, load_wd14

__all__ = ["Tagger", "DeepDanbooruTagger", "WD14Tagger", "load_tagger", "load_deepdanbooru", "load_wd14", "labels",
           "tag_frequencies", "vocab_record", "import_deepdanbooru", "quiet_keras", "reference_scores",
           "demo_tagger_path", "demo_wd14_path"]
