"""Entry points for `ray job submit` (installed as srft_ray.jobs)."""
