"""Thin Ray actors around library objects (installed as srft_ray.actors)."""
