"""Measuring edits: the ResNet50 re-scorer (`scorer`), re-scoring matrices (`rescore`) and image
metrics FID / DFID / LPIPS diversity with labelled substitutes (`metrics`).

    from latentedit.scoring.scorer import load_scorer
    from latentedit.scoring.rescore import rescore_matrix
    matrix = rescore_matrix({"+long_hair -short_hair": (before, after)}, load_scorer("demo"))
"""
