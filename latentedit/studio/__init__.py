"""The studio: an interactive editor in the browser (`latentedit studio`).

core.py: `Studio`, the framework-free model (faces, sliders -> edit -> image, side-effect meter,
recipes, sweeps); sliders.py: which sliders a direction set gets and the edit they make;
uploads.py: defensive decoding of uploaded files; recipes.py: saving and loading recipes and PNGs;
export.py: sweeps as GIF/MP4; app.py: the Gradio page; server.py: offline, local launch.
"""
