"""The demo world's build and training scripts: `python -m tools.world.build --seed 0` rebuilds every asset."""
